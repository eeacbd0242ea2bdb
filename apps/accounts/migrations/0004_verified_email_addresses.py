"""Give every existing person a verified sign-in address in allauth's table.

Before allauth, every account was created by an operator, a command or the demo seed (nobody
could sign up), so their addresses are trusted; without this they could not sign in once email
verification became mandatory.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    known = set(EmailAddress.objects.values_list("user_id", flat=True))
    EmailAddress.objects.bulk_create(
        [
            EmailAddress(user_id=user_id, email=email.lower(), verified=True, primary=True)
            for user_id, email in User.objects.values_list("id", "email")
            if user_id not in known and email
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_user_directory_dn"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
