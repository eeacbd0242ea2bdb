from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from apps.accounts import checks  # noqa: F401 - registers the system checks
        from apps.accounts.middleware import on_user_logged_in

        # Session bookkeeping, not business logic: every sign-in restarts the session's
        # absolute lifetime (SESSION_MAX_AGE), whichever path signed the person in.
        user_logged_in.connect(on_user_logged_in, dispatch_uid="accounts.session_lifetime")
