-- `karl judge` never samples a pair of the OOD test half: the test half measures the classifier,
-- and a prompt tuned on the judge's figures must not have seen it.
select
    judge_samples.judge_id,
    judge_samples.pair_key
from {{ ref('stg_karl__judge_samples') }} as judge_samples
inner join {{ ref('fct_eval_sets') }} as eval_sets
    on judge_samples.pair_key = eval_sets.pair_key
where eval_sets.eval_set = 'test'
