"""Pure producers of the table layouts: they take Arrow tables and write bytes."""
