"""Per-call latency of litellm.completion vs the raw openai SDK it pins, against the stub.

usage: python litellm_calls.py STUB_URL N   (prints JSON: {"litellm": [...], "raw": [...]})
"""

from __future__ import annotations

import json
import sys
import time

import litellm
import openai

url, n = sys.argv[1], int(sys.argv[2])
msgs = [{"role": "system", "content": "Be brief.Hello"}]
raw = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench-key", max_retries=0)


def lite() -> object:
    return litellm.completion(
        model="openai/m",
        messages=msgs,
        api_base=url + "/v1",
        api_key="sk-bench-key",
        temperature=1.0,
        max_tokens=4096,
        num_retries=0,
    )


def plain() -> object:
    return raw.chat.completions.create(model="m", messages=msgs, temperature=1.0, max_tokens=4096)


times: dict[str, list[float]] = {"litellm": [], "raw": []}
for _ in range(30):
    lite()
    plain()
while len(times["raw"]) < n:
    for name, fn in (("raw", plain), ("litellm", lite)):
        for _ in range(25):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
print(json.dumps(times))
