"""Agents and workflows: an agent is a gateway route, a system prompt, tools and limits; a run loops
model calls through the gateway and tool calls through the tool registry, and is kept as a trace.
Workflows are versioned graphs of model, tool, condition and loop nodes; templates install ready
agents in one click. It uses prompts, tools and the gateway, which is why it sits above them."""
