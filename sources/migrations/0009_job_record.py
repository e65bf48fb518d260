from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Index runs share web.jobs.JobRecord: a heartbeat and an attempt count."""

    dependencies = [("sources", "0008_source_max_link_lifetime")]

    operations = [
        migrations.RenameField("source", "index_heartbeat_at", "heartbeat_at"),
        migrations.AddField("source", "attempts", models.PositiveIntegerField(default=0)),
    ]
