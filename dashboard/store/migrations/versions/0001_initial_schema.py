"""initial schema

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_source")),
        sa.UniqueConstraint("name", name=op.f("uq_data_source_name")),
    )
    op.create_table(
        "workflow",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow")),
        sa.UniqueConstraint("name", name=op.f("uq_workflow_name")),
    )
    op.create_table(
        "attribute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "value_type",
            sa.Enum(
                "enum",
                "boolean",
                "integer",
                "decimal",
                "string",
                name="valuetype",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("options", sa.JSON(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "name NOT IN ('location', 'object_class')", name=op.f("ck_attribute_not_reserved")
        ),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_attribute_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute")),
        sa.UniqueConstraint("workflow_id", "name", name=op.f("uq_attribute_workflow_id")),
    )
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
    op.create_table(
        "object_class",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_object_class_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_object_class")),
        sa.UniqueConstraint("workflow_id", "name", name=op.f("uq_object_class_workflow_id")),
    )
    op.create_table(
        "workflow_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_workflow_order_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_order")),
        sa.UniqueConstraint("workflow_id", "name", name=op.f("uq_workflow_order_workflow_id")),
    )
    op.create_table(
        "assessment_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.Integer(), nullable=False),
        sa.Column("workflow_order_id", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflow.id"],
            name=op.f("fk_assessment_case_workflow_id_workflow"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_order_id"],
            ["workflow_order.id"],
            name=op.f("fk_assessment_case_workflow_order_id_workflow_order"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_case")),
        sa.UniqueConstraint(
            "workflow_id",
            "workflow_order_id",
            "external_id",
            name=op.f("uq_assessment_case_workflow_id"),
        ),
    )
    with op.batch_alter_table("assessment_case", schema=None) as batch_op:
        batch_op.create_index("ix_case_order", ["workflow_order_id"], unique=False)
        batch_op.create_index(
            "uq_case_no_order",
            ["workflow_id", "external_id"],
            unique=True,
            sqlite_where=sa.text("workflow_order_id IS NULL"),
            postgresql_where=sa.text("workflow_order_id IS NULL"),
        )

    op.create_table(
        "data_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("data_source_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=False),
        sa.CheckConstraint("count >= 1", name=op.f("ck_data_file_count_positive")),
        sa.CheckConstraint(
            "width >= 0 AND height >= 0", name=op.f("ck_data_file_size_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["assessment_case.id"],
            name=op.f("fk_data_file_case_id_assessment_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["data_source_id"],
            ["data_source.id"],
            name=op.f("fk_data_file_data_source_id_data_source"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_file")),
        sa.UniqueConstraint("case_id", "count", name=op.f("uq_data_file_case_id")),
    )
    with op.batch_alter_table("data_file", schema=None) as batch_op:
        batch_op.create_index("ix_data_file_source", ["data_source_id"], unique=False)

    op.create_table(
        "assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("data_file_id", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column(
            "stage_kind",
            sa.Enum("machine", "human", name="stagekind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("assessed_by", sa.String(length=200), nullable=False),
        sa.Column("assessed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["data_file_id"],
            ["data_file.id"],
            name=op.f("fk_assessment_data_file_id_data_file"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment")),
    )
    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assessment_file_time", ["data_file_id", "assessed_at", "id"], unique=False
        )

    op.create_table(
        "annotation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("object_class_id", sa.Integer(), nullable=False),
        sa.Column("geometry", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("class_confidence", sa.Float(), nullable=True),
        sa.Column("frame", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "class_confidence IS NULL OR (class_confidence >= 0 AND class_confidence <= 1)",
            name=op.f("ck_annotation_class_conf"),
        ),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
            name=op.f("ck_annotation_conf"),
        ),
        sa.CheckConstraint("frame >= 0", name=op.f("ck_annotation_frame")),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessment.id"],
            name=op.f("fk_annotation_assessment_id_assessment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entity.id"],
            name=op.f("fk_annotation_entity_id_entity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["object_class_id"],
            ["object_class.id"],
            name=op.f("fk_annotation_object_class_id_object_class"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation")),
    )
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_annotation_assessment", ["assessment_id", "entity_id", "id"], unique=False
        )

    op.create_table(
        "attribute_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("entity_id", sa.String(length=36), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=True),
        sa.Column("attribute_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "confidence IS NULL OR (confidence >= 0 AND confidence <= 1)",
            name=op.f("ck_attribute_value_conf"),
        ),
        sa.ForeignKeyConstraint(
            ["annotation_id"],
            ["annotation.id"],
            name=op.f("fk_attribute_value_annotation_id_annotation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessment.id"],
            name=op.f("fk_attribute_value_assessment_id_assessment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["attribute_id"],
            ["attribute.id"],
            name=op.f("fk_attribute_value_attribute_id_attribute"),
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entity.id"],
            name=op.f("fk_attribute_value_entity_id_entity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribute_value")),
    )
    with op.batch_alter_table("attribute_value", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attribute_value_assessment",
            ["assessment_id", "entity_id", "annotation_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("attribute_value", schema=None) as batch_op:
        batch_op.drop_index("ix_attribute_value_assessment")

    op.drop_table("attribute_value")
    with op.batch_alter_table("annotation", schema=None) as batch_op:
        batch_op.drop_index("ix_annotation_assessment")

    op.drop_table("annotation")
    with op.batch_alter_table("assessment", schema=None) as batch_op:
        batch_op.drop_index("ix_assessment_file_time")

    op.drop_table("assessment")
    with op.batch_alter_table("data_file", schema=None) as batch_op:
        batch_op.drop_index("ix_data_file_source")

    op.drop_table("data_file")
    with op.batch_alter_table("assessment_case", schema=None) as batch_op:
        batch_op.drop_index("uq_case_no_order")
        batch_op.drop_index("ix_case_order")

    op.drop_table("assessment_case")
    op.drop_table("workflow_order")
    op.drop_table("object_class")
    op.drop_table("entity")
    op.drop_table("attribute")
    op.drop_table("workflow")
    op.drop_table("data_source")
