"""The Panel dashboard: thin views over the query layer."""
