"""A simulated MikroTik router: the RouterOS API wire protocol over TCP on 127.0.0.1.

The local stack runs it as the demo gateway's router (``python -m infra.local.router``, see the README);
the tests drive the provisioner against it (``tests.fakes.routeros`` is this package).

Speaks what librouteros (and any other API client) expects from RouterOS ≥ 6.43:

* words are length-prefixed (1–5 byte length), a sentence ends with an empty word;
* ``/login =name= =password=`` (plain) or the pre-6.43 challenge ``/login`` → ``=ret=`` + ``=response=``;
* ``!re`` rows carrying ``=.id=*N``, ``!done`` (``=ret=*N`` after ``add``), ``!trap`` with ``=message=``
  (and ``=category=``) followed by ``!done``, ``!fatal`` then close, ``!empty`` (RouterOS 7.18+) for a
  print without rows;
* ``.tag`` echoed on every reply of a command (so pipelined commands can be matched);
* ``print`` with ``=.proplist=`` and query words ``?k=v`` / ``?=k=v`` / ``?k`` / ``?-k`` / ``?<k=v`` /
  ``?>k=v`` and the stack operators ``?#|`` ``?#&`` ``?#!`` ``?#.``; ``count-only``;
* ``add`` / ``set`` / ``unset`` / ``remove`` / ``enable`` / ``disable`` with RouterOS' validation
  (unknown parameter, unique names, "already have such entry", "no such item") and its normalisation
  of printed values (queue rates in bits/s, ``/32`` targets, ``10s`` burst times, ``true``/``false``).

Menus kept in memory: /ppp/secret, /ppp/active, /ppp/profile, /ip/hotspot/user, /ip/hotspot/active,
/ip/hotspot/user/profile, /queue/simple, /ip/firewall/address-list, /ip/firewall/filter,
/ip/firewall/nat, /ip/arp, /system/identity, /system/resource.

Controls for fault tests: :meth:`FakeRouter.set_down` (connections refused, open sessions dropped),
``delay`` (seconds before each reply), ``latency`` (seconds per request burst: a network round trip),
:meth:`FakeRouter.trap_on` (trap a given command), wrong credentials, and :class:`Stats` counters of
connections, logins, commands, replies and request bursts (round trips).

The package: ``wire`` (the word/sentence codec), ``query`` (query words → row predicates),
``menus`` (menu specs, value normalisation), ``tables`` (the menus in memory and the API verbs),
``server`` (:class:`FakeRouter`: the TCP server, sessions, login and fault controls).
"""

from infra.local.routeros_sim.menus import MENUS, Fatal, MenuSpec, Trap
from infra.local.routeros_sim.query import compile_query
from infra.local.routeros_sim.server import FakeRouter, Stats
from infra.local.routeros_sim.wire import (
    SentenceReader,
    WireError,
    decode_length,
    encode_length,
    encode_sentence,
    encode_word,
)

__all__ = [
    "MENUS",
    "FakeRouter",
    "Fatal",
    "MenuSpec",
    "SentenceReader",
    "Stats",
    "Trap",
    "WireError",
    "compile_query",
    "decode_length",
    "encode_length",
    "encode_sentence",
    "encode_word",
]
