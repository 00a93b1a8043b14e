from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('runcast', '0005_schedules')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Execution',
            name='concurrency_limit',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='Execution',
            name='concurrency_key',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddIndex(
            model_name='Execution',
            index=Index(fields=['workflow_id', 'concurrency_key', 'status']),
        ),
    ]
