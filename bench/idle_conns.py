#!/usr/bin/env python3
"""Opens N idle SMTP connections to one server and holds them, for the memory-per-connection figure.

    idle_conns.py --port P --count N [--mode plain|implicit|starttls] [--hold SECONDS]

Each connection reads the 220 greeting; with --mode implicit the TLS handshake comes first (port 465 role),
with --mode starttls the client says EHLO and STARTTLS and does the handshake after the 220 (port 587 role).
Then nothing more is sent. Prints "ready OPEN FAILED" on stdout once every connection is up (or has failed),
then holds them until stdin is closed or --hold seconds pass, and closes them all. At most 200 handshakes are
in flight at once; each has a 30 s timeout. Only 127.0.0.1 is ever dialled.
"""
import argparse
import asyncio
import resource
import ssl
import sys


async def open_one(args, ctx, sem, conns, errors):
    async with sem:
        try:
            if args.mode == "implicit":
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", args.port, ssl=ctx, server_hostname="bench.test"), 30)
            else:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", args.port), 30)
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line.startswith(b"220"):
                raise RuntimeError(f"greeting {line!r}")
            while line[3:4] == b"-":  # a multi-line greeting: read to its last line
                line = await asyncio.wait_for(reader.readline(), 30)
            if args.mode == "starttls":
                writer.write(b"EHLO idle.bench.test\r\n")
                while True:
                    line = await asyncio.wait_for(reader.readline(), 30)
                    if not line.startswith(b"250"):
                        raise RuntimeError(f"EHLO {line!r}")
                    if line[3:4] != b"-":
                        break
                writer.write(b"STARTTLS\r\n")
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line.startswith(b"220"):
                    raise RuntimeError(f"STARTTLS {line!r}")
                await asyncio.wait_for(writer.start_tls(ctx, server_hostname="bench.test"), 30)
            conns.append(writer)
        except Exception as e:  # noqa: BLE001 - counted and reported, the run goes on
            errors.append(repr(e))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--mode", choices=["plain", "implicit", "starttls"], default="plain")
    ap.add_argument("--hold", type=float, default=120)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.count + 1000) if hard != resource.RLIM_INFINITY else args.count + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the bench servers' certificates are self-signed

    sem = asyncio.Semaphore(200)
    conns, errors = [], []
    await asyncio.gather(*(open_one(args, ctx, sem, conns, errors) for _ in range(args.count)))
    print(f"ready {len(conns)} {len(errors)}", flush=True)
    if errors:
        print(f"first error: {errors[0]}", file=sys.stderr, flush=True)

    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    try:
        await asyncio.wait_for(stdin_closed, args.hold)
    except asyncio.TimeoutError:
        pass
    for w in conns:
        w.transport.abort()
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
