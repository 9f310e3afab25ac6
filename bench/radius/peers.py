"""The servers WispCloud is compared with, from the Debian packages, in a temp dir on loopback.

* :class:`FreeRadiusFiles`: FreeRADIUS 3 with a plain users file (C, no policy: the ceiling).
* :class:`FreeRadiusSql`: FreeRADIUS 3 with PostgreSQL, as ISPs run it: ``rlm_sql`` (radcheck /
  radreply), ``sqlcounter`` for daily time and monthly traffic, Simultaneous-Use through the radacct
  session count, and radacct accounting with the stock PostgreSQL queries and schema. PostgreSQL
  runs with its defaults (durable commits), as WispCloud answers accounting only once it is durable.

Each starts on free ports, is probed until it answers, and is stopped (process and temp files) by
``stop()``. ``start()`` returns why it cannot run (package missing) instead of raising.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

FREERADIUS_BASE = """
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = {modconfdir}
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
    destination = files
    file = {dir}/radius.log
    auth = no
}}
security {{
    allow_core_dumps = no
    max_attributes = 200
    reject_delay = 0
    status_server = no
}}
thread pool {{
    start_servers = 8
    max_servers = 32
    min_spare_servers = 4
    max_spare_servers = 16
    max_requests_per_server = 0
}}
client bench {{
    ipaddr = 127.0.0.1
    secret = {secret}
}}
"""

USERS_FILE_SERVER = """
modules {{
    files {{
        filename = {dir}/users
    }}
    pap {{
    }}
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {auth_port}
    }}
    authorize {{
        files
        pap
    }}
    authenticate {{
        Auth-Type PAP {{
            pap
        }}
    }}
}}
"""

SQL_SERVER = """
modules {{
    expr {{
    }}
    sql {{
        driver = "rlm_sql_postgresql"
        dialect = "postgresql"
        server = "127.0.0.1"
        port = {pg_port}
        login = "radius"
        password = "radius"
        radius_db = "radius"
        acct_table1 = "radacct"
        acct_table2 = "radacct"
        postauth_table = "radpostauth"
        authcheck_table = "radcheck"
        groupcheck_table = "radgroupcheck"
        authreply_table = "radreply"
        groupreply_table = "radgroupreply"
        usergroup_table = "radusergroup"
        read_groups = no
        read_profiles = no
        delete_stale_sessions = yes
        read_clients = no
        client_table = "nas"
        group_attribute = "SQL-Group"
        pool {{
            start = 16
            min = 16
            max = 32
            spare = 16
            uses = 0
            retry_delay = 1
            lifetime = 0
            idle_timeout = 0
        }}
        $INCLUDE ${{modconfdir}}/sql/main/postgresql/queries.conf
    }}
    sqlcounter dailycounter {{
        sql_module_instance = sql
        dialect = postgresql
        counter_name = Daily-Session-Time
        check_name = Max-Daily-Session
        reply_name = Session-Timeout
        key = User-Name
        reset = daily
        $INCLUDE ${{modconfdir}}/sql/counter/postgresql/dailycounter.conf
    }}
    sqlcounter monthlytraffic {{
        sql_module_instance = sql
        dialect = postgresql
        counter_name = Monthly-Traffic
        check_name = Max-Monthly-Traffic
        key = User-Name
        reset = monthly
        query = "SELECT SUM(AcctInputOctets + AcctOutputOctets) FROM radacct \\
            WHERE UserName='%{{${{key}}}}' AND EXTRACT(epoch FROM AcctStartTime) > '%%b'"
    }}
    pap {{
    }}
}}
policy {{
    acct_unique {{
        update request {{
            &Acct-Unique-Session-Id := "%{{md5:%{{User-Name}},%{{Acct-Session-Id}},%{{NAS-IP-Address}},%{{NAS-Port}}}}"
        }}
    }}
}}
server default {{
    listen {{
        type = auth
        ipaddr = 127.0.0.1
        port = {auth_port}
    }}
    listen {{
        type = acct
        ipaddr = 127.0.0.1
        port = {acct_port}
    }}
    authorize {{
        sql
        dailycounter
        monthlytraffic
        pap
    }}
    authenticate {{
        Auth-Type PAP {{
            pap
        }}
    }}
    session {{
        sql
    }}
    preacct {{
        acct_unique
    }}
    accounting {{
        sql
    }}
}}
"""

DAILY_TIME_S = 240 * 60
MONTHLY_TRAFFIC = 4 << 30
SESSION_TIMEOUT_S = 86400


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _freeradius_binary() -> str | None:
    return shutil.which("freeradius") or shutil.which("radiusd")


class FreeRadius:
    """``freeradius -f`` on a generated configuration; ``probe`` says whether it answers yet."""

    name = "freeradius"

    def __init__(self, work: Path, secret: str) -> None:
        self.conf = work / self.name
        self.secret = secret
        self.auth_port = free_port()
        self.acct_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def configure(self) -> str:
        raise NotImplementedError

    def start(self, probe: Callable[[int], bool]) -> str | None:
        binary = _freeradius_binary()
        if binary is None:
            return "freeradius is not installed"
        self.conf.mkdir(parents=True, exist_ok=True)
        (self.conf / "radiusd.conf").write_text(self.configure())
        self.proc = subprocess.Popen(
            [binary, "-f", "-d", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for _ in range(150):
            if self.proc.poll() is not None:
                error = self.proc.stderr.read().decode()[-400:] if self.proc.stderr else ""
                log = self.conf / "radius.log"
                tail = log.read_text()[-600:] if log.exists() else ""
                return f"{self.name} did not start: {error} {tail}"
            if probe(self.auth_port):
                return None
            time.sleep(0.1)
        return f"{self.name} did not answer"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class FreeRadiusFiles(FreeRadius):
    """FreeRADIUS with the subscribers in a users file."""

    name = "freeradius-users-file"

    def __init__(self, work: Path, secret: str, users: list[tuple[str, str]]) -> None:
        super().__init__(work, secret)
        self.users = users

    def configure(self) -> str:
        (self.conf / "users").write_text(
            "".join(
                f'{name} Cleartext-Password := "{password}"\n'
                f'\tMikrotik-Rate-Limit = "5M/5M", Session-Timeout = {SESSION_TIMEOUT_S}, '
                "Acct-Interim-Interval = 300\n"
                for name, password in self.users
            )
        )
        base = FREERADIUS_BASE.format(dir=self.conf, modconfdir=self.conf, secret=self.secret)
        return base + USERS_FILE_SERVER.format(dir=self.conf, auth_port=self.auth_port)


class PostgreSQL:
    """A throw-away PostgreSQL cluster (run as the ``postgres`` user when we are root)."""

    def __init__(self, work: Path) -> None:
        self.dir = work / "postgresql"
        self.port = free_port(socket.SOCK_STREAM)
        self.proc: subprocess.Popen[bytes] | None = None
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        self.bin = Path(bins[-1]) if bins else None
        self._as: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *cmd: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self._as, *cmd], input=stdin, capture_output=True, check=False, timeout=120)

    def psql(self, sql: str, database: str = "radius") -> str:
        """Run ``sql``; returns the unaligned output (rows of ``|``-separated values)."""
        assert self.bin is not None
        done = self._run(
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "radius",
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-A",
            "-t",
            stdin=sql.encode(),
        )
        if done.returncode:
            raise RuntimeError(f"psql failed: {done.stderr.decode()[-400:]}")
        return done.stdout.decode()

    def start(self) -> str | None:
        if self.bin is None or not (self.bin / "postgres").exists():
            return "postgresql is not installed"
        self.dir.mkdir(parents=True)
        if self._as:
            shutil.chown(self.dir.parent, "postgres")
            shutil.chown(self.dir, "postgres")
        done = self._run(
            str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "radius", "-A", "trust", "--no-sync"
        )
        if done.returncode:
            return f"initdb failed: {done.stderr.decode()[-300:]}"
        self.proc = subprocess.Popen(
            [
                *self._as,
                str(self.bin / "postgres"),
                "-D",
                str(self.dir / "data"),
                "-k",
                str(self.dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-c",
                "max_connections=100",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(150):
            ready = self._run(str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port))
            if ready.returncode == 0:
                return None
            if self.proc.poll() is not None:
                return "postgresql did not start"
            time.sleep(0.1)
        return "postgresql did not answer"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # runuser forwards it: a "smart" shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class FreeRadiusSql(FreeRadius):
    """FreeRADIUS + PostgreSQL with the counters and limits of the WispCloud bench policy."""

    name = "freeradius-postgresql"
    SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
    MODCONFDIR = Path("/etc/freeradius/3.0/mods-config")

    def __init__(self, work: Path, secret: str, users: list[tuple[str, str]]) -> None:
        super().__init__(work, secret)
        self.users = users
        self.db = PostgreSQL(work)

    def configure(self) -> str:
        base = FREERADIUS_BASE.format(dir=self.conf, modconfdir=self.MODCONFDIR, secret=self.secret)
        return base + SQL_SERVER.format(
            auth_port=self.auth_port, acct_port=self.acct_port, pg_port=self.db.port
        )

    def start(self, probe: Callable[[int], bool]) -> str | None:
        if not self.SCHEMA.exists():
            return "freeradius-postgresql is not installed"
        why_not = self.db.start()
        if why_not:
            return why_not
        self.db.psql("CREATE DATABASE radius", database="postgres")
        self.db.psql(self.SCHEMA.read_text())
        check, reply = [], []
        for name, password in self.users:
            check += [
                f"{name}\tCleartext-Password\t:=\t{password}",
                f"{name}\tSimultaneous-Use\t:=\t1",
                f"{name}\tMax-Daily-Session\t:=\t{DAILY_TIME_S}",
                f"{name}\tMax-Monthly-Traffic\t:=\t{MONTHLY_TRAFFIC}",
            ]
            reply += [
                f"{name}\tSession-Timeout\t:=\t{SESSION_TIMEOUT_S}",
                f"{name}\tMikrotik-Rate-Limit\t:=\t5M/5M",
                f"{name}\tAcct-Interim-Interval\t:=\t300",
            ]
        self.db.psql(
            "COPY radcheck (username, attribute, op, value) FROM STDIN;\n"
            + "\n".join(check)
            + "\n\\.\nCOPY radreply (username, attribute, op, value) FROM STDIN;\n"
            + "\n".join(reply)
            + "\n\\.\nANALYZE;\n"
        )
        return super().start(probe)

    def stop(self) -> None:
        super().stop()
        self.db.stop()
