from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('runcast', '0002_history_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Execution',
            name='request_fingerprint',
            field=fields.CharField(null=True, max_length=64),
        ),
    ]
