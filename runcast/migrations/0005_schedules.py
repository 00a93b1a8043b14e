from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('runcast', '0004_triggers')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Schedule',
            fields=[
                ('workflow', fields.OneToOneField('runcast.Workflow', source_field='workflow_id', primary_key=True, db_index=True, db_constraint=True, to_field='id', related_name='schedule', on_delete=OnDelete.CASCADE)),
                ('cron', fields.CharField(max_length=200)),
                ('timezone', fields.CharField(max_length=64)),
                ('overlap', fields.CharField(max_length=12)),
                ('catchup_window_seconds', fields.IntField()),
                ('paused', fields.BooleanField(default=False)),
                ('next_tick_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('buffered_tick_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'schedule', 'app': 'runcast', 'indexes': [Index(fields=['paused', 'next_tick_at']), Index(fields=['buffered_tick_at'])], 'pk_attr': 'workflow_id', 'table_description': 'One row per workflow with a schedule trigger, written when the workflow is saved.'},
            bases=['Model'],
        ),
    ]
