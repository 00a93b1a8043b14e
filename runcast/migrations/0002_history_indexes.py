from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('runcast', '0001_initial')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Execution',
            name=None,
            fields=['workflow_id', 'status', 'started_at'],
        ),
        ops.AddIndex(
            model_name='Execution',
            index=Index(fields=['workflow_id', 'status', 'started_at', 'duration_ms']),
        ),
        ops.AddIndex(
            model_name='Execution',
            index=Index(fields=['workflow_id', 'duration_ms', 'status', 'started_at']),
        ),
    ]
