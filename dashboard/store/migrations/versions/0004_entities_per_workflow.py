"""entities belong to one workflow: the entity's key is (workflow, UUID)

The same UUID in two workflows is two entities (a long CSV imported under a new workflow
name used to reuse the first workflow's records). Annotations and values name their entity
by UUID; its workflow is theirs (assessment -> file -> case), so the foreign key from them to
``entity`` goes, and the writer creates the (workflow, UUID) record with the first row that
names it. Stores made before get the records their workflows were missing.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Every (workflow, entity) pair that annotations and values name.
_NAMED_PAIRS = """
    SELECT c.workflow_id, x.entity_id
    FROM (SELECT assessment_id, entity_id FROM annotation
          UNION SELECT assessment_id, entity_id FROM attribute_value) AS x
    JOIN assessment a ON a.id = x.assessment_id
    JOIN data_file f ON f.id = a.data_file_id
    JOIN assessment_case c ON c.id = f.case_id
"""


# Deleting a workflow deletes its classes and attributes and, along the longer path of cases,
# files and assessments, the annotations and values that use them: checked at the commit,
# when every cascade is done (PostgreSQL checks an immediate key after each cascade step).
_TAXONOMY_KEYS = (
    ("annotation", "object_class_id", "object_class"),
    ("attribute_value", "attribute_id", "attribute"),
)


def upgrade() -> None:
    for table in ("annotation", "attribute_value"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_entity_id_entity", type_="foreignkey")
    _taxonomy_keys(deferred=True)
    op.execute("CREATE TABLE entity_before (workflow_id INTEGER NOT NULL, id VARCHAR(36))")
    op.execute("INSERT INTO entity_before (workflow_id, id) SELECT workflow_id, id FROM entity")
    op.drop_table("entity")
    op.create_table(
        "entity",
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_entity_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "id", name=op.f("pk_entity")),
    )
    op.execute(
        "INSERT INTO entity (workflow_id, id) "
        f"SELECT workflow_id, id FROM entity_before UNION {_NAMED_PAIRS}"
    )
    op.drop_table("entity_before")


def downgrade() -> None:
    # One record per UUID again: a UUID used in several workflows keeps its first workflow.
    op.execute("CREATE TABLE entity_before (workflow_id INTEGER NOT NULL, id VARCHAR(36))")
    op.execute(
        "INSERT INTO entity_before (workflow_id, id) "
        "SELECT MIN(workflow_id), id FROM entity GROUP BY id"
    )
    op.drop_table("entity")
    op.create_table(
        "entity",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_entity_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entity")),
    )
    op.execute("INSERT INTO entity (id, workflow_id) SELECT id, workflow_id FROM entity_before")
    op.drop_table("entity_before")
    for table in ("annotation", "attribute_value"):
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f"fk_{table}_entity_id_entity", "entity", ["entity_id"], ["id"], ondelete="CASCADE"
            )
    _taxonomy_keys(deferred=False)


def _taxonomy_keys(deferred: bool) -> None:
    for table, column, parent in _TAXONOMY_KEYS:
        name = f"fk_{table}_{column}_{parent}"
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")
            batch.create_foreign_key(
                name,
                parent,
                [column],
                ["id"],
                deferrable=True if deferred else None,
                initially="DEFERRED" if deferred else None,
            )
