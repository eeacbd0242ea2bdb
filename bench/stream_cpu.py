"""CPU per streamed answer: LiteLLM's Router alone, and our engine around it.

Concurrent streaming on a small machine is bounded by CPU, so this measures where the CPU goes,
one turn at a time (no contention), against the loopback fake provider in its own process:
- "router": ``Router.acompletion`` streamed to the end, as the engine calls it (same deployment
  route, same parameters), nothing else;
- "engine": a whole ``TurnRunner`` turn on the same model: the turn's database writes
  (begin, checkpoints, finish), the prompt, the events. Each turn is the first of its own
  conversation, so both send one question (the engine adds its system prompt), and LiteLLM's
  work on a longer history is not counted as ours.
Each is run with answers of 1 and of ``--tokens`` tokens; the difference gives the CPU per
streamed chunk, the rest the CPU per turn. "engine - router" is what we add.

Usage: python -m bench stream_cpu [--turns 40] [--tokens 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time


async def _cpu_per_turn(run, turns: int) -> float:
    for _ in range(3):  # warm: connections, router, imports
        await run()
    await asyncio.sleep(0.5)  # the warm-up's post-stream work
    started = time.process_time()
    for _ in range(turns):
        await run()
    await asyncio.sleep(0.5)  # the last turn's post-stream work (LiteLLM logging) counts too
    return (time.process_time() - started) * 1000 / turns


async def measure(tenant, conversations: dict[int, list], base: str, args) -> dict:
    from litellm import Router

    from apps.conversations.engine import TurnRunner
    from apps.core.tenancy import acall_in_tenant
    from apps.llm.models import ProviderKind
    from apps.llm.router import LITELLM_PREFIX, tenant_router

    # Build the tenant's router first: it registers the local models in LiteLLM's (global) model
    # map, so the Router measured alone runs on the same map as the engine's.
    await acall_in_tenant(tenant, tenant_router)
    results = {}
    for tokens, conversation_ids in conversations.items():
        model = f"clock-{tokens}-1"
        router = Router(
            model_list=[
                {
                    "model_name": "chat|0",
                    "litellm_params": {
                        "model": f"{LITELLM_PREFIX[ProviderKind.OPENAI_COMPATIBLE]}/{model}",
                        "api_base": f"{base}/v1",
                        "api_key": "not-needed",
                    },
                }
            ],
            num_retries=2,
        )

        async def via_router(router=router) -> None:
            stream = await router.acompletion(
                model="chat|0",
                messages=[{"role": "user", "content": "question"}],
                stream=True,
                stream_options={"include_usage": True},
                temperature=0.3,
                max_tokens=500,
            )
            async for _chunk in stream:
                pass

        fresh = iter(conversation_ids)

        async def via_engine(fresh=fresh) -> None:
            runner = TurnRunner(tenant=tenant, conversation_id=next(fresh), text="question")
            async for event in runner.events():
                if event.type == "done":
                    assert event.data["status"] == "complete", event.data

        results[tokens] = {
            "router": await _cpu_per_turn(via_router, args.turns),
            "engine": await _cpu_per_turn(via_engine, args.turns),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=100)
    args, _ = parser.parse_known_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from django_tenants.utils import tenant_context

    from apps.conversations.models import Channel
    from apps.conversations.services import conversation_create
    from apps.core.warmup import warm_and_freeze
    from apps.llm import services as llm
    from bench.engine_ttft import drop_tenant, setup_tenant, start_provider

    warm_and_freeze()
    proc, base = start_provider(0.0)
    try:
        tenant, _, _ = setup_tenant(base, 0, "clock-1-1")
        conversations = {}
        with tenant_context(tenant):
            provider = llm.Provider.objects.get(name="fake")
            for tokens in (1, args.tokens):
                llm.deployment_create(
                    provider=provider, model_name=f"clock-{tokens}-1", alias=f"cpu{tokens}"
                )
                assistant = llm.assistant_create(name=f"CPU {tokens}", default_model=f"cpu{tokens}")
                conversations[tokens] = [
                    conversation_create(channel=Channel.API, assistant=assistant).pk
                    for _ in range(args.turns + 3)
                ]
    except BaseException:
        proc.terminate()
        raise
    try:
        results = asyncio.run(measure(tenant, conversations, base, args))
    finally:
        proc.terminate()
        drop_tenant(tenant)
    one, many = results[1], results[args.tokens]
    chunks = args.tokens - 1
    print(f"CPU per streamed turn, {args.turns} turns each, one at a time:")
    for name in ("router", "engine"):
        per_chunk = (many[name] - one[name]) / chunks
        print(
            f"  {name:<7} 1 token {one[name]:6.1f} ms   {args.tokens} tokens {many[name]:6.1f} ms"
            f"   -> per turn {one[name] - per_chunk:5.1f} ms + per chunk {per_chunk:.3f} ms"
        )
    added_turn = one["engine"] - one["router"]
    added_chunk = ((many["engine"] - one["engine"]) - (many["router"] - one["router"])) / chunks
    print(f"  we add: {added_turn:.1f} ms per turn, {added_chunk:.3f} ms per chunk")
    router_chunk = (many["router"] - one["router"]) / chunks
    print(
        f"  LiteLLM alone saturates one core at ~{1000 / router_chunk:,.0f} streamed chunks/s "
        "(not counting the provider, PostgreSQL or the turns' own start)"
    )


if __name__ == "__main__":
    main()
