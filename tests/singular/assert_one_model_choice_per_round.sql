-- A round's model re-choice (`karl run --rechoose-from N`) picks exactly one candidate and scores
-- the run's own model among them: the choice is always measured against the fixed model.
select
    run_id,
    round_index,
    sum(case when is_chosen then 1 else 0 end) as n_chosen,
    sum(case when is_run_model then 1 else 0 end) as n_run_models
from {{ ref('fct_round_model_choices') }}
group by run_id, round_index
having sum(case when is_chosen then 1 else 0 end) <> 1
    or sum(case when is_run_model then 1 else 0 end) <> 1
