"""assessment summaries: what each entity has in each assessment, counted when written

The preview's counts of a new filter combination read one row per (assessment, entity,
object class) instead of every annotation and attribute value (issue "Many users at once":
cold counts under 300 ms at 1M rows). Entities get a short integer key, ``number``, unique in
the store, which the counts group by instead of the UUID text. Existing stores get their
numbers (in (workflow, UUID) order) and their summaries counted here; from now on the writer
keeps both (``store.summary``).

The counting is written out below rather than imported from ``store.summary``, so that this
step stays what it was when later migrations change the models.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# An entity's workflow is its annotation's or value's: assessment -> file -> case.
_ENTITY_OF = """
    JOIN assessment a ON a.id = {rows}.assessment_id
    JOIN data_file f ON f.id = a.data_file_id
    JOIN assessment_case c ON c.id = f.case_id
    JOIN entity e ON e.workflow_id = c.workflow_id AND e.id = {rows}.entity_id
"""

_SUMMARIES = f"""
    INSERT INTO assessment_summary
        (assessment_id, entity_number, object_class_id, annotations, attribute_values)
    SELECT n.assessment_id, e.number, n.object_class_id, COUNT(*), COALESCE(SUM(v.n), 0)
    FROM annotation n
    {_ENTITY_OF.format(rows="n")}
    LEFT JOIN (SELECT annotation_id, COUNT(*) AS n FROM attribute_value
               WHERE annotation_id IS NOT NULL GROUP BY annotation_id) v
        ON v.annotation_id = n.id
    GROUP BY n.assessment_id, e.number, n.object_class_id
    UNION ALL
    SELECT v.assessment_id, e.number, NULL, 0, COUNT(*)
    FROM attribute_value v
    {_ENTITY_OF.format(rows="v")}
    WHERE v.annotation_id IS NULL
    GROUP BY v.assessment_id, e.number
"""


def upgrade() -> None:
    op.add_column("entity", sa.Column("number", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE entity SET number = numbered.n FROM "
        "(SELECT workflow_id, id, ROW_NUMBER() OVER (ORDER BY workflow_id, id) AS n "
        "FROM entity) AS numbered "
        "WHERE numbered.workflow_id = entity.workflow_id AND numbered.id = entity.id"
    )
    with op.batch_alter_table("entity") as batch:
        batch.alter_column("number", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint(op.f("uq_entity_number"), ["number"])
    if op.get_bind().dialect.name == "postgresql":  # the writer takes numbers from it
        op.execute("CREATE SEQUENCE entity_number_seq OWNED BY entity.number")
        op.execute(
            "SELECT setval('entity_number_seq', COALESCE(MAX(number), 0) + 1, false) FROM entity"
        )
    op.create_table(
        "assessment_summary",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("entity_number", sa.BigInteger(), nullable=False),
        sa.Column("object_class_id", sa.Integer(), nullable=True),
        sa.Column("annotations", sa.Integer(), nullable=False),
        sa.Column("attribute_values", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessment.id"],
            name=op.f("fk_assessment_summary_assessment_id_assessment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_summary")),
    )
    op.create_index(
        "ix_assessment_summary_assessment",
        "assessment_summary",
        ["assessment_id", "object_class_id", "entity_number", "annotations", "attribute_values"],
    )
    op.execute(_SUMMARIES)


def downgrade() -> None:
    op.drop_index("ix_assessment_summary_assessment", table_name="assessment_summary")
    op.drop_table("assessment_summary")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE entity_number_seq")
    with op.batch_alter_table("entity") as batch:
        batch.drop_constraint(op.f("uq_entity_number"), type_="unique")
        batch.drop_column("number")
