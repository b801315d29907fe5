"""Drives `pluto serve` with the official Agent Protocol client (agent-protocol-client).

    python tests/ap_client.py BASE_URL

Creates a task, executes a step, lists tasks and steps, uploads and downloads an artifact.
Prints what it saw as one JSON object for the Rust test (tests/serve.rs) to check.
"""

import asyncio
import json
import os
import sys
import tempfile

from agent_protocol_client import AgentApi, ApiClient, Configuration
from agent_protocol_client.models import StepRequestBody, TaskRequestBody


async def main(base):
    out = {}
    async with ApiClient(Configuration(host=base)) as client:
        api = AgentApi(client)
        task = await api.create_agent_task(TaskRequestBody(input="use the tool please"))
        out["task_id"] = task.task_id
        step = await api.execute_agent_task_step(task.task_id, StepRequestBody())
        out["step"] = {"output": step.output, "is_last": step.is_last, "status": step.status,
                       "input": step.input}
        second = await api.execute_agent_task_step(task.task_id, StepRequestBody(input="and again"))
        out["second_step_id"] = second.step_id
        tasks = await api.list_agent_tasks(current_page=1, page_size=10)
        out["listed_tasks"] = [t.task_id for t in tasks.tasks]
        out["task_pagination"] = tasks.pagination.to_dict()
        steps = await api.list_agent_task_steps(task.task_id)
        out["listed_steps"] = [s.step_id for s in steps.steps]
        got = await api.get_agent_task_step(task.task_id, second.step_id)
        out["got_step_output"] = got.output
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "notes.txt")
            with open(path, "wb") as f:
                f.write(b"hello artifact")
            uploaded = await api.upload_agent_task_artifacts(
                task.task_id, file=path, relative_path="docs"
            )
        out["uploaded"] = uploaded.to_dict()
        artifacts = await api.list_agent_task_artifacts(task.task_id)
        out["listed_artifacts"] = [a.file_name for a in artifacts.artifacts]
        data = await api.download_agent_task_artifact(task.task_id, uploaded.artifact_id)
        out["downloaded"] = bytes(data).decode()
        try:
            await api.get_agent_task("no-such-task")
            out["missing"] = "found?"
        except Exception as e:  # the client raises its NotFoundException
            out["missing"] = getattr(e, "status", str(e))
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
