"""Print the Langflow flow of the peers bench as JSON (run with the Langflow venv's Python).

ChatInput → OpenAI model (base URL = the emulator, a dummy key, streaming on) → ChatOutput:
the equivalent of one GalaxyCo agent with an OpenAI-compatible model and no tools. Built
with Langflow's own graph API so that each node carries the component code and template
of the installed version.

    /work/peers/langflow-venv/bin/python bench/peers/langflow_flow.py http://127.0.0.1:8790/v1
"""

import json
import sys

from lfx.components.input_output import ChatInput, ChatOutput
from lfx.graph import Graph
from lfx_openai.components.openai.openai_chat_model import OpenAIModelComponent


def flow(base_url: str) -> dict:
    chat_input = ChatInput()
    model = OpenAIModelComponent()
    model.set(
        input_value=chat_input.message_response,
        openai_api_base=base_url,
        api_key="bench",
        model_name="gpt-4o-mini",
        stream=True,
        max_retries=0,
    )
    chat_output = ChatOutput()
    chat_output.set(input_value=model.text_response)
    graph = Graph(start=chat_input, end=chat_output)
    return dict(graph.dump(name="peers bench agent", description="one OpenAI-compatible model, no tools"))


if __name__ == "__main__":
    print(json.dumps(flow(sys.argv[1])))
