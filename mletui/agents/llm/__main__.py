"""``python -m mletui.agents.llm``: the runtimes start the LLM agent this way."""

import sys

from mletui.agents.llm.search import main

sys.exit(main())
