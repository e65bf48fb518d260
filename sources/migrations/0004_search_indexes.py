from django.db import migrations, models

# PostgreSQL: the key column takes the "C" collation, so ORDER BY path is code-point order (as
# on SQLite), and a plain btree on it serves key ranges and LIKE 'prefix%' (a linguistic
# collation can use neither); the varchar_pattern_ops index of 0003 is then redundant.
POSTGRESQL = [
    'ALTER TABLE sources_sourceobject ALTER COLUMN path TYPE varchar(1024) COLLATE "C"',
    "DROP INDEX IF EXISTS source_object_path_prefix",
]
POSTGRESQL_REVERSE = [
    'ALTER TABLE sources_sourceobject ALTER COLUMN path TYPE varchar(1024) COLLATE "default"',
    "CREATE INDEX source_object_path_prefix ON sources_sourceobject (source_id, path varchar_pattern_ops)",
]

# SQLite: a full-text index of the names with the trigram tokenizer (SQLite >= 3.34), so a
# name substring finds its rows without reading every name. It holds no copy of the names
# (external content): triggers keep it in step with every insert, upsert, rename and delete.
# A later migration that makes Django rebuild sources_sourceobject on SQLite (an AlterField)
# drops these triggers with the old table, and must create them again.
SQLITE = [
    "CREATE VIRTUAL TABLE source_object_name_trigram USING fts5("
    "name, content='sources_sourceobject', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER source_object_name_trigram_insert AFTER INSERT ON sources_sourceobject BEGIN "
    "INSERT INTO source_object_name_trigram (rowid, name) VALUES (new.id, new.name); END",
    "CREATE TRIGGER source_object_name_trigram_delete AFTER DELETE ON sources_sourceobject BEGIN "
    "INSERT INTO source_object_name_trigram (source_object_name_trigram, rowid, name) "
    "VALUES ('delete', old.id, old.name); END",
    "CREATE TRIGGER source_object_name_trigram_update AFTER UPDATE OF name ON sources_sourceobject "
    "WHEN old.name IS NOT new.name BEGIN "
    "INSERT INTO source_object_name_trigram (source_object_name_trigram, rowid, name) "
    "VALUES ('delete', old.id, old.name); "
    "INSERT INTO source_object_name_trigram (rowid, name) VALUES (new.id, new.name); END",
    "INSERT INTO source_object_name_trigram (source_object_name_trigram) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS source_object_name_trigram_insert",
    "DROP TRIGGER IF EXISTS source_object_name_trigram_delete",
    "DROP TRIGGER IF EXISTS source_object_name_trigram_update",
    "DROP TABLE IF EXISTS source_object_name_trigram",
]


def _on(vendor: str, statements: list[str]):  # type: ignore[no-untyped-def]
    def run(apps, schema_editor):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == vendor:
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0003_index_progress_schedule_search"),
    ]

    operations = [
        migrations.RunPython(_on("postgresql", POSTGRESQL), _on("postgresql", POSTGRESQL_REVERSE)),
        migrations.RunPython(_on("sqlite", SQLITE), _on("sqlite", SQLITE_REVERSE)),
        migrations.AddIndex(
            model_name="sourceobject",
            index=models.Index(
                condition=models.Q(("is_dir", False), ("vanished_at__isnull", True)),
                fields=["source", "path", "size", "last_modified", "is_dir", "vanished_at"],
                name="source_object_search",
            ),
        ),
        migrations.AddIndex(
            model_name="sourceobject",
            index=models.Index(
                condition=models.Q(("is_dir", False), ("vanished_at__isnull", True)),
                fields=["source", "size", "last_modified", "path", "is_dir", "vanished_at"],
                name="source_object_search_size",
            ),
        ),
    ]
