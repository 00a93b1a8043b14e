from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('runcast', '0003_execution_request_fingerprint')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Execution',
            name='chain_depth',
            field=fields.IntField(default=0),
        ),
        ops.AddField(
            model_name='Workflow',
            name='concurrency',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Workflow',
            name='event_name',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddField(
            model_name='Workflow',
            name='hook_id',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Workflow',
            name='hook_secret',
            field=fields.CharField(null=True, max_length=200),
        ),
        ops.AddIndex(
            model_name='Workflow',
            index=Index(fields=['workspace_id', 'event_name']),
        ),
    ]
