"""A chat over callbacks (Pyro4's chat example, zpyro's way): a name server (the broker), a chat
server, and three members, each a process with a daemon of its own for its callback object.
Carol's process is stopped before the talk starts: the server drops her at the first delivery
that fails, and the others carry on."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for examples/launch.py

from launch import HOST, Launcher  # noqa: E402

TALKERS = ("alice", "bob")


def say(member, line):
    member.proc.stdin.write(line + "\n")
    member.proc.stdin.flush()


def main() -> int:
    with Launcher(env={"ZPYRO_HOST": HOST}) as launch:
        broker, location = launch.broker()
        host, port = location.rsplit(":", 1)
        launch.env.update({"ZPYRO_NS_HOST": host, "ZPYRO_NS_PORT": port})
        server = launch.python("chat server", HERE / "server.py")
        server.wait_for("chat server ready")
        members = {}
        for nick in ("alice", "bob", "carol"):  # one after the other: the member list grows
            members[nick] = launch.python(nick, HERE / "client.py", nick, str(len(TALKERS)))
            print(members[nick].wait_for(f"{nick} joined"))
        members["carol"].stop()  # gone without leaving
        print(f"stopped carol (pid {members['carol'].pid}) without a goodbye")
        for nick in TALKERS:
            say(members[nick], "go")
        for nick in TALKERS:
            print(members[nick].wait_for(f"{nick} heard {2 * len(TALKERS)} chat messages", 30))
        print(server.wait_for("server: dropped carol"))
        for nick in TALKERS:
            say(members[nick], "bye")
            print(members[nick].wait_for(f"{nick} left"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
