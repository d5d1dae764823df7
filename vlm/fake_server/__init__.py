"""A scripted, OpenAI-compatible model server on 127.0.0.1, for tests, benchmarks and plugins.

:class:`ScriptedServer` is a real HTTP server (uvicorn, in a background thread with its own
event loop) that speaks SGLang's dialect of the OpenAI API: ``/v1/chat/completions``
streamed and not, ``/health``, ``/model_info``, ``/get_model_info`` and ``/v1/models``. What
it answers is scripted, so tests are deterministic and need no GPU::

    with ScriptedServer() as srv:
        srv.enqueue("Hello!")                                # the next answer
        srv.enqueue(Reply(text="partial", cut_after=1))      # a stream cut mid-answer
        client = SGLangClient(srv.url)
        ...
        srv.requests[-1].json["messages"]                    # what the client sent

Answers come from the queue first, then from ``responder(request_json)`` (a function of
the request returning a :class:`Reply` or a string; it may be async and runs on the server's
event loop), else the server answers 400 saying that nothing was scripted.

It streams the way SGLang does: a role chunk, the text in small content chunks, a separate
``finish_reason`` chunk, a usage chunk with ``choices: []`` when the request asked for
``stream_options.include_usage``, then ``data: [DONE]``. Unless a reply says otherwise,
usage is estimated (about four characters per token) and ``cached_tokens`` comes from a
paged prefix cache over the serialised messages of earlier requests, so benchmarks see
prefix-cache hits the way a real server reports them.

Run as a process for end-to-end tests::

    python -m vlm.fake_server --port 8000 --script replies.json [--latency S] [--token-delay S]

``replies.json`` is a JSON list of replies (strings, or objects with :class:`Reply`'s
fields), used in order; once it is used up the last one repeats. Without ``--script`` the
server echoes the text of the last user message. The server prints its URL when ready.
"""

from __future__ import annotations

from kanjian.vlm.fake_server.cli import main
from kanjian.vlm.fake_server.script import (
    PrefixCache,
    RecordedRequest,
    Reply,
    Responder,
    ScriptResponder,
    echo,
    error_body,
    load_script,
    split_text,
)
from kanjian.vlm.fake_server.server import ScriptedServer

__all__ = [
    "PrefixCache",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptResponder",
    "ScriptedServer",
    "echo",
    "error_body",
    "load_script",
    "main",
    "split_text",
]
