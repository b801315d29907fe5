"""Drives `pluto serve` with the official A2A Python SDK (a2a-sdk 1.x), as any A2A client would.

    python tests/a2a_client.py BASE_URL AGENT SLOW_AGENT

Resolves AGENT's card, sends a message streamed and not streamed, gets the task, and cancels a
task of SLOW_AGENT (whose tool takes long). Prints what it saw as one JSON object; the Rust test
(tests/protocols.rs) checks it. Any error ends the script with a traceback and exit status 1.
"""

import asyncio
import json
import sys

import httpx
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    TaskState,
)


def message(text, context_id=None):
    m = Message(role=Role.ROLE_USER, message_id=f"msg-{text[:8]}", parts=[Part(text=text)])
    if context_id:
        m.context_id = context_id
    return SendMessageRequest(message=m)


def kind(event):
    for name in ("task", "message", "status_update", "artifact_update"):
        if event.HasField(name):
            return name
    return "unknown"


def text_of(parts):
    return "".join(p.text for p in parts)


async def main(base, agent, slow_agent):
    out = {}
    async with httpx.AsyncClient(timeout=60) as http:
        card = await A2ACardResolver(http, f"{base}/a2a/{agent}").get_agent_card()
        out["card_name"] = card.name
        out["card_url"] = card.supported_interfaces[0].url

        # Streamed: the task, then updates, then the answer.
        client = await create_client(card, ClientConfig(streaming=True, httpx_client=http))
        kinds, task_id, context_id, answer, final_state = [], None, None, None, None
        async for event in client.send_message(message("use the tool please")):
            kinds.append(kind(event))
            if event.HasField("task"):
                task_id, context_id = event.task.id, event.task.context_id
            if event.HasField("artifact_update"):
                answer = text_of(event.artifact_update.artifact.parts)
            if event.HasField("status_update"):
                final_state = TaskState.Name(event.status_update.status.state)
        out.update(streamed_kinds=kinds, streamed_answer=answer, streamed_state=final_state,
                   task_id=task_id, context_id=context_id)

        # Not streamed, continuing the same context.
        blocking = await create_client(card, ClientConfig(streaming=False, httpx_client=http))
        async for event in blocking.send_message(message("and again", context_id)):
            task = event.task
            out["sent_state"] = TaskState.Name(task.status.state)
            out["sent_answer"] = text_of(task.artifacts[0].parts) if task.artifacts else None
            out["sent_context"] = task.context_id

        got = await client.get_task(GetTaskRequest(id=task_id))
        out["got_state"] = TaskState.Name(got.status.state)
        out["got_history_roles"] = [Role.Name(m.role) for m in got.history]

        # Cancel a slow task while it streams.
        slow_card = await A2ACardResolver(http, f"{base}/a2a/{slow_agent}").get_agent_card()
        slow = await create_client(slow_card, ClientConfig(streaming=True, httpx_client=http))
        states, cancelled = [], None
        async for event in slow.send_message(message("take your time")):
            if event.HasField("task") and cancelled is None:
                cancelled = await slow.cancel_task(CancelTaskRequest(id=event.task.id))
            if event.HasField("status_update"):
                states.append(TaskState.Name(event.status_update.status.state))
        out["cancel_answer_state"] = TaskState.Name(cancelled.status.state)
        out["cancel_stream_states"] = states
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
