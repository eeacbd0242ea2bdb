from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from apps.core.db import close_request_thread_connections

        request_finished.connect(
            close_request_thread_connections, dispatch_uid="close_request_thread_connections"
        )
