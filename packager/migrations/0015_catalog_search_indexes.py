from django.db import migrations

# The catalog's q= (packager.catalog) is an icontains on the name, description and README
# text of each package, and on the paths of its draft entries (an EXISTS): Django writes
# UPPER(column) LIKE UPPER('%q%'), which pg_trgm's GIN indexes on UPPER(column) serve. The
# entries' index is what keeps a search from reading a million paths: the planner finds the
# few packages whose paths match through it (bench/catalog.py measures it). SQLite reads
# the rows; its catalogs are small.
POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX package_entry_path_trigram ON packager_packageentry USING gin ((UPPER(path::text)) gin_trgm_ops)",
    "CREATE INDEX package_name_trigram ON packager_package USING gin ((UPPER(name::text)) gin_trgm_ops)",
    "CREATE INDEX package_description_trigram ON packager_package USING gin ((UPPER(description)) gin_trgm_ops)",
    "CREATE INDEX package_readme_trigram ON packager_package USING gin ((UPPER(readme_text)) gin_trgm_ops)",
]
POSTGRESQL_REVERSE = [
    "DROP INDEX IF EXISTS package_entry_path_trigram",
    "DROP INDEX IF EXISTS package_name_trigram",
    "DROP INDEX IF EXISTS package_description_trigram",
    "DROP INDEX IF EXISTS package_readme_trigram",
]


def _on_postgresql(statements: list[str]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("packager", "0014_job_records"),
        ("sources", "0004_search_indexes"),
    ]

    operations = [
        migrations.RunPython(_on_postgresql(POSTGRESQL), _on_postgresql(POSTGRESQL_REVERSE)),
    ]
