"""Destination checks: private and internal addresses refused by default, metadata always."""

from __future__ import annotations

import pytest

from apps.tools import netguard
from apps.tools.netguard import DestinationRefused, check_destination, classify_ip, parse_ip

PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "10.255.1.2", "172.16.0.1", "172.31.255.255",
    "192.168.1.1", "169.254.10.10", "100.64.0.1", "0.0.0.0",  # noqa: S104 - an address under test
    "::1", "fd00::1", "fc00::abcd",
    "fe80::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:c0a8:0101::1", "224.0.0.1",
    "255.255.255.255",
]  # fmt: skip
METADATA = [
    "169.254.169.254", "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "169.254.170.2",
]  # fmt: skip


@pytest.mark.parametrize("address", PRIVATE)
def test_private_and_internal_addresses_are_refused_by_default(address):
    assert classify_ip(parse_ip(address)) == "private"
    with pytest.raises(DestinationRefused) as excinfo:
        check_destination(address, 80, allowed_hosts=[address], allow_private=False)
    assert excinfo.value.code == "private_address_refused"
    assert check_destination(address, 80, allowed_hosts=[address], allow_private=True)


@pytest.mark.parametrize("address", METADATA)
def test_metadata_addresses_are_refused_even_when_private_is_allowed(address):
    assert classify_ip(parse_ip(address)) == "metadata"
    with pytest.raises(DestinationRefused) as excinfo:
        check_destination(address, 80, allowed_hosts=[address], allow_private=True)
    assert excinfo.value.code == "metadata_refused"


@pytest.mark.parametrize(
    "host", ["metadata.google.internal", "METADATA.google.internal.", "metadata"]
)
def test_metadata_names_are_refused_before_resolving(host, monkeypatch):
    monkeypatch.setattr(netguard, "resolve_host", lambda *a: pytest.fail("resolved"))
    with pytest.raises(DestinationRefused) as excinfo:
        check_destination(host, 80, allowed_hosts=[host, "*.internal"], allow_private=True)
    assert excinfo.value.code == "metadata_refused"


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        (["10.1.2.3"], "private_address_refused"),
        (["93.184.216.34", "192.168.0.10"], "private_address_refused"),
        (["::1"], "private_address_refused"),
        (["169.254.169.254"], "metadata_refused"),
        ([], "dns_failed"),
    ],
)
def test_a_name_is_judged_by_every_address_it_resolves_to(monkeypatch, answers, code):
    monkeypatch.setattr(netguard, "resolve_host", lambda host, port: answers)
    with pytest.raises(DestinationRefused) as excinfo:
        check_destination(
            "api.example.com", 443, allowed_hosts=["api.example.com"], allow_private=False
        )
    assert excinfo.value.code == code


def test_metadata_answer_is_refused_even_with_private_allowed(monkeypatch):
    monkeypatch.setattr(
        netguard, "resolve_host", lambda host, port: ["10.0.0.1", "169.254.169.254"]
    )
    with pytest.raises(DestinationRefused):
        check_destination(
            "evil.example.com", 80, allowed_hosts=["*.example.com"], allow_private=True
        )


def test_public_addresses_pass(monkeypatch):
    monkeypatch.setattr(
        netguard, "resolve_host", lambda host, port: ["93.184.216.34", "2606:2800:220:1::"]
    )
    assert check_destination(
        "api.example.com", 443, allowed_hosts=["*.example.com"], allow_private=False
    ) == ["93.184.216.34", "2606:2800:220:1::"]


@pytest.mark.parametrize(
    ("host", "allowed", "ok"),
    [
        ("api.example.com", ["api.example.com"], True),
        ("API.Example.com.", ["api.example.com"], True),
        ("eu.api.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("api.example.com.evil.io", ["api.example.com"], False),
        ("93.184.216.34", ["api.example.com"], False),
    ],
)
def test_allowed_hosts(host, allowed, ok, monkeypatch):
    monkeypatch.setattr(netguard, "resolve_host", lambda h, p: ["93.184.216.34"])
    if ok:
        check_destination(host, 443, allowed_hosts=allowed, allow_private=False)
    else:
        with pytest.raises(DestinationRefused) as excinfo:
            check_destination(host, 443, allowed_hosts=allowed, allow_private=False)
        assert excinfo.value.code == "host_not_allowed"
