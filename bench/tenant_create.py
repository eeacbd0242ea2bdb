"""Time `tenant_create` (schema + all tenant migrations + owner + widget) per tenant.

Runs against the development database (embedded unless DATABASE_URL is set) and removes the
tenants it made. Usage: python -m bench tenant_create [--count N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10)
    args, _ = parser.parse_known_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django.db import connection

    from apps.accounts.models import User
    from apps.tenants.models import Tenant
    from apps.tenants.services import tenant_create

    run = uuid.uuid4().hex[:6]
    timings, made = [], []
    try:
        for i in range(args.count):
            slug = f"bench-{run}-{i}"
            started = time.perf_counter()
            created = tenant_create(
                slug=slug,
                name=f"Bench {i}",
                domain=f"{slug}.localhost",
                owner_email=f"owner-{slug}@bench.test",
                owner_password="bench-password-123",
            )
            timings.append(time.perf_counter() - started)
            made.append(created.tenant)
    finally:
        for tenant in made:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')
            Tenant.objects.filter(pk=tenant.pk).delete()
        User.objects.filter(email__endswith="@bench.test").delete()
    timings.sort()
    print(
        f"tenant_create x{len(timings)}: median {statistics.median(timings):.2f} s, "
        f"max {timings[-1]:.2f} s, mean {statistics.fmean(timings):.2f} s"
    )


if __name__ == "__main__":
    main()
