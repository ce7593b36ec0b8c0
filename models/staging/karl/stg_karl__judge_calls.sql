{{ staged_llm_calls(judge_calls=true) }}
