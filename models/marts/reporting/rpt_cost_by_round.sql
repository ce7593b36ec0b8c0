{#-
    One row per (run_id, round_index) with annotator calls: calls, tokens, cost, latency
    percentiles, retries and invalid votes, the labels they bought, and the round's wall time.
-#}
with

calls as (
    select * from {{ ref('stg_karl__llm_calls') }}
),

consensus as (
    select * from {{ ref('fct_consensus_labels') }}
),

steps as (
    select * from {{ ref('stg_karl__run_steps') }}
),

call_figures as (
    select
        run_id,
        round_index,
        count(distinct pair_key) as n_pairs,
        count(*) as n_calls,
        count(case when is_valid_vote then 1 end) as n_valid_calls,
        count(case when not is_valid_vote then 1 end) as n_invalid_calls,
        cast(sum(retries) as bigint) as n_retries,
        cast(coalesce(sum(tokens_in), 0) as bigint) as tokens_in,
        cast(coalesce(sum(tokens_out), 0) as bigint) as tokens_out,
        coalesce(sum(cost_usd), 0) as cost_usd,
        percentile_cont(0.5) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.9) within group (order by latency_ms) as latency_p90_ms,
        percentile_cont(0.99) within group (order by latency_ms) as latency_p99_ms,
        max(latency_ms) as latency_max_ms
    from calls
    group by run_id, round_index
),

accepted as (
    select
        run_id,
        round_index,
        count(case when is_accepted then 1 end) as n_accepted_labels
    from consensus
    group by run_id, round_index
),

step_seconds as (
    select
        run_id,
        round_index,
        sum(case when step = 'annotate' then seconds else 0 end) as annotate_seconds,
        sum(seconds) as round_seconds
    from steps
    group by run_id, round_index
),

final as (
    select
        call_figures.run_id,
        call_figures.round_index,
        call_figures.n_pairs,
        call_figures.n_calls,
        call_figures.n_valid_calls,
        call_figures.n_invalid_calls,
        cast(call_figures.n_invalid_calls as double) / call_figures.n_calls as invalid_rate,
        call_figures.n_retries,
        call_figures.tokens_in,
        call_figures.tokens_out,
        call_figures.cost_usd,
        call_figures.latency_p50_ms,
        call_figures.latency_p90_ms,
        call_figures.latency_p99_ms,
        call_figures.latency_max_ms,
        coalesce(accepted.n_accepted_labels, 0) as n_accepted_labels,
        call_figures.cost_usd / nullif(accepted.n_accepted_labels, 0) as cost_per_accepted_label_usd,
        sum(call_figures.cost_usd) over (
            partition by call_figures.run_id
            order by call_figures.round_index
            rows between unbounded preceding and current row
        ) as cumulative_cost_usd,
        step_seconds.annotate_seconds,
        step_seconds.round_seconds
    from call_figures
    left join accepted
        on
            call_figures.run_id = accepted.run_id
            and call_figures.round_index = accepted.round_index
    left join step_seconds
        on
            call_figures.run_id = step_seconds.run_id
            and call_figures.round_index = step_seconds.round_index
)

select * from final
