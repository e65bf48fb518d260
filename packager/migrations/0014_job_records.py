from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Every background job shares web.jobs.JobRecord: a heartbeat and an attempt count."""

    dependencies = [("packager", "0013_version_pins_and_verify_progress")]

    operations = [
        migrations.RenameField("packageversion", "task_started_at", "heartbeat_at"),
        migrations.AddField("packageversion", "attempts", models.PositiveIntegerField(default=0)),
        migrations.AddField("versionpublication", "heartbeat_at", models.DateTimeField(null=True, blank=True)),
        migrations.AddField("versionpublication", "attempts", models.PositiveIntegerField(default=0)),
        migrations.AddField("addmatchesjob", "attempts", models.PositiveIntegerField(default=0)),
    ]
