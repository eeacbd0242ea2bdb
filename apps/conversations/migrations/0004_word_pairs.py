"""Pairs of adjacent words as lexemes, GIN-indexed, for phrase search.

A GIN index on a tsvector knows which messages hold a word, not where: a phrase query reads
every message holding all of its words to check their positions (up to a second for a rare
phrase of common words at 1,000,000 messages). ``conversations_word_pairs(text)`` turns
"the return value" into the lexeme 'return valu' (stemmed, stop words keep their place), so a
phrase's candidates are only the messages holding each of its word pairs. The lexemes contain a
space, which the text parser never produces: they can never collide with a word. Building the
index reads every message once (about 100 s per million messages on one core).
"""

import django.contrib.postgres.indexes
from django.db import migrations

import apps.conversations.models

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION conversations_word_pairs(body text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH words AS (
        SELECT lexeme, unnest(positions) AS position
        FROM unnest(to_tsvector('english'::regconfig, coalesce(body, '')))
    )
    SELECT coalesce(array_to_tsvector(array_agg(DISTINCT a.lexeme || ' ' || b.lexeme)), ''::tsvector)
    FROM words a JOIN words b ON b.position = a.position + 1
$$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_curation_and_search"),
    ]

    operations = [
        migrations.RunSQL(
            CREATE_FUNCTION, "DROP FUNCTION IF EXISTS conversations_word_pairs(text)"
        ),
        migrations.AddIndex(
            model_name="message",
            index=django.contrib.postgres.indexes.GinIndex(
                apps.conversations.models.WordPairs("content"), name="message_word_pairs"
            ),
        ),
    ]
