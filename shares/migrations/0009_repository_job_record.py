from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Repository builds share web.jobs.JobRecord: a heartbeat and an attempt count."""

    dependencies = [("shares", "0008_share_counts_written_at")]

    operations = [
        migrations.AddField("sharerepository", "heartbeat_at", models.DateTimeField(null=True, blank=True)),
        migrations.AddField("sharerepository", "attempts", models.PositiveIntegerField(default=0)),
    ]
