"""At most one streaming answer per conversation, enforced by a partial unique index.

Before the index is built, any conversation with more than one streaming answer keeps only
the newest as streaming; the others were cut off long ago and become incomplete answers, as
the next turn would have marked them."""

from django.db import migrations, models

MARK_EXTRA_STREAMS = """
UPDATE conversations_message AS m
SET status = 'incomplete', error_code = 'stream_lost', updated_at = now()
WHERE m.status = 'streaming' AND EXISTS (
    SELECT 1 FROM conversations_message AS newer
    WHERE newer.conversation_id = m.conversation_id AND newer.status = 'streaming'
      AND (newer.created_at, newer.id) > (m.created_at, m.id)
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_message_needs_attention"),
    ]

    operations = [
        migrations.RunSQL(MARK_EXTRA_STREAMS, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "streaming")),
                fields=("conversation",),
                name="message_one_streaming_reply",
            ),
        ),
    ]
