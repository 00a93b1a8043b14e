from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('runcast', '0007_webhook_secrets')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Execution',
            index=Index(fields=['workspace_id', 'status', 'started_at', 'duration_ms']),
        ),
        ops.AddIndex(
            model_name='Execution',
            index=Index(fields=['workspace_id', 'duration_ms', 'status', 'started_at']),
        ),
    ]
