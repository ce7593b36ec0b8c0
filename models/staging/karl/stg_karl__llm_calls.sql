{{ staged_llm_calls(judge_calls=false) }}
