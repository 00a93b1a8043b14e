from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from runcast.domain.enums import Role
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('name', fields.CharField(unique=True, max_length=100)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'app_user', 'app': 'runcast', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('runcast.User', source_field='user_id', db_constraint=True, to_field='id', related_name='tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'api_token', 'app': 'runcast', 'pk_attr': 'id', 'table_description': 'A bearer token, stored only as its SHA-256 digest.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Workspace',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('slug', fields.CharField(unique=True, max_length=100)),
                ('name', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'workspace', 'app': 'runcast', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Membership',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('runcast.User', source_field='user_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('workspace', fields.ForeignKeyField('runcast.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(description='VIEWER: VIEWER\nEDITOR: EDITOR\nADMIN: ADMIN\nOWNER: OWNER', enum_type=Role, max_length=10)),
            ],
            options={'table': 'membership', 'app': 'runcast', 'unique_together': (('user', 'workspace'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('workspace', fields.ForeignKeyField('runcast.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('execution_id', fields.CharField(null=True, max_length=40)),
                ('message', fields.TextField(unique=False)),
                ('recipient', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'notification', 'app': 'runcast', 'indexes': [Index(fields=['workspace_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Task',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('workspace', fields.ForeignKeyField('runcast.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.CASCADE)),
                ('execution_id', fields.CharField(null=True, max_length=40)),
                ('title', fields.CharField(max_length=500)),
                ('description', fields.TextField(null=True, unique=False)),
                ('priority', fields.CharField(null=True, max_length=20)),
                ('assigned_to', fields.CharField(null=True, max_length=200)),
                ('status', fields.CharField(default='TODO', max_length=20)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'task', 'app': 'runcast', 'indexes': [Index(fields=['workspace_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Workflow',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('workspace', fields.ForeignKeyField('runcast.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='workflows', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=200)),
                ('description', fields.TextField(null=True, unique=False)),
                ('status', fields.CharField(default='ACTIVE', max_length=10)),
                ('trigger', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('timeout_ms', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'workflow', 'app': 'runcast', 'indexes': [Index(fields=['workspace_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Execution',
            fields=[
                ('id', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=40)),
                ('workspace', fields.ForeignKeyField('runcast.Workspace', source_field='workspace_id', db_constraint=True, to_field='id', related_name='executions', on_delete=OnDelete.CASCADE)),
                ('workflow', fields.ForeignKeyField('runcast.Workflow', source_field='workflow_id', db_constraint=True, to_field='id', related_name='executions', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharField(default='PENDING', max_length=10)),
                ('trigger_type', fields.CharField(default='manual', max_length=20)),
                ('trigger_data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('variables', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('actions', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('timeout_ms', fields.IntField(null=True)),
                ('triggered_by', fields.CharField(null=True, max_length=40)),
                ('is_simulation', fields.BooleanField(default=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('error_code', fields.CharField(null=True, max_length=40)),
                ('idempotency_key', fields.CharField(null=True, max_length=200)),
                ('cancel_requested', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('started_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('duration_ms', fields.IntField(null=True)),
                ('last_seq', fields.IntField(default=0)),
                ('lease_owner', fields.CharField(null=True, max_length=80)),
                ('lease_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('fencing_token', fields.IntField(default=0)),
            ],
            options={'table': 'execution', 'app': 'runcast', 'unique_together': (('workflow', 'idempotency_key'),), 'indexes': [Index(fields=['workflow_id', 'started_at']), Index(fields=['workflow_id', 'status', 'started_at']), Index(fields=['workspace_id', 'started_at']), Index(fields=['status', 'created_at'])], 'pk_attr': 'id', 'table_description': 'One run of a workflow, with a snapshot of its actions and timeout taken at start.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ExecutionEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('execution', fields.ForeignKeyField('runcast.Execution', source_field='execution_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('seq', fields.IntField()),
                ('type', fields.CharField(max_length=20)),
                ('payload', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'execution_event', 'app': 'runcast', 'unique_together': (('execution', 'seq'),), 'pk_attr': 'id', 'table_description': 'One event of an execution stream, numbered by seq from 1 without gaps.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StepRun',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('execution', fields.ForeignKeyField('runcast.Execution', source_field='execution_id', db_constraint=True, to_field='id', related_name='steps', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('action_id', fields.CharField(max_length=100)),
                ('action_type', fields.CharField(max_length=100)),
                ('status', fields.CharField(default='pending', max_length=10)),
                ('output', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('error', fields.TextField(null=True, unique=False)),
                ('attempts', fields.IntField(default=0)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('duration_ms', fields.IntField(null=True)),
            ],
            options={'table': 'step_run', 'app': 'runcast', 'unique_together': (('execution', 'position'),), 'pk_attr': 'id', 'table_description': 'The state of one action within one execution.'},
            bases=['Model'],
        ),
    ]
