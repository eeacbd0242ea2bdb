from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "apps.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge bases"

    def ready(self) -> None:
        # Before any library that could phone home is imported (see apps/knowledge/offline.py).
        from apps.knowledge.offline import apply_offline_environment

        apply_offline_environment()
