{%- set split_seed_text = var('karl_split_seed') | string | trim -%}
{%- if not split_seed_text.lstrip('-').isdigit() -%}
    {{ exceptions.raise_compiler_error("KARL_SPLIT_SEED (dbt var karl_split_seed) must be an integer, got '" ~ split_seed_text ~ "'") }}
{%- endif -%}
{%- set split_seed = split_seed_text | int -%}

with

human_labels as (
    select * from {{ ref('fct_human_labels') }}
),

-- The run's roles (dbt vars karl_train_labels, karl_pool_labels, karl_eval_labels): a train dataset
-- is 'id'; a dataset that is pool only is 'pool', eval only 'test'; a dataset that is both splits by
-- anchor item (the pair's item A): anchors in a seeded hash order fill the 'pool' half until it
-- holds half of the dataset's pairs; the remaining anchors form 'test'. An anchor's pairs
-- therefore all land in one half.
role_labels as (
    select
        human_labels.*,
        {{ in_datasets('human_labels.dataset', 'karl_pool_labels') }} as is_pool_dataset,
        {{ in_datasets('human_labels.dataset', 'karl_eval_labels') }} as is_eval_dataset
    from human_labels
),

anchors as (
    select
        dataset,
        item_a_id as anchor_item_id,
        count(*) as n_anchor_pairs,
        {{ dbt.hash(dbt.concat(["'" ~ split_seed ~ ":'", 'item_a_id'])) }} as anchor_hash
    from role_labels
    where is_pool_dataset and is_eval_dataset
    group by dataset, item_a_id
),

anchor_order as (
    select
        dataset,
        anchor_item_id,
        sum(n_anchor_pairs) over (
            partition by dataset
            order by anchor_hash, anchor_item_id
            rows between unbounded preceding and 1 preceding
        ) as pairs_before,
        sum(n_anchor_pairs) over (partition by dataset) as total_pairs
    from anchors
),

anchor_halves as (
    select
        dataset,
        anchor_item_id,
        case
            when 2 * coalesce(pairs_before, 0) < total_pairs then 'pool'
            else 'test'
        end as eval_set
    from anchor_order
),

split_pairs as (
    select
        role_labels.pair_key,
        anchor_halves.eval_set,
        role_labels.dataset,
        role_labels.item_a_id as anchor_item_id,
        role_labels.item_a_id,
        role_labels.item_b_id,
        role_labels.relation_label,
        role_labels.fbl_label,
        role_labels.has_majority
    from role_labels
    inner join anchor_halves
        on
            role_labels.dataset = anchor_halves.dataset
            and role_labels.item_a_id = anchor_halves.anchor_item_id
    where role_labels.is_pool_dataset and role_labels.is_eval_dataset
),

whole_pairs as (
    select
        pair_key,
        case when is_pool_dataset then 'pool' else 'test' end as eval_set,
        dataset,
        item_a_id as anchor_item_id,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        has_majority
    from role_labels
    where is_pool_dataset <> is_eval_dataset
),

id_pairs as (
    select
        pair_key,
        'id' as eval_set,
        dataset,
        item_a_id as anchor_item_id,
        item_a_id,
        item_b_id,
        relation_label,
        fbl_label,
        has_majority
    from human_labels
    where {{ in_datasets('dataset', 'karl_train_labels') }}
),

unioned as (
    select * from id_pairs
    union all
    select * from split_pairs
    union all
    select * from whole_pairs
),

-- The split is by anchor: a partner item can still be in another set. Flag it, so that an
-- evaluation that wants items never seen in training can filter.
set_items as (
    select
        eval_set,
        item_a_id as item_id
    from unioned
    union
    select
        eval_set,
        item_b_id as item_id
    from unioned
),

id_items as (
    select item_id from set_items
    where eval_set = 'id'
),

pool_items as (
    select item_id from set_items
    where eval_set = 'pool'
),

final as (
    select
        unioned.pair_key,
        unioned.eval_set,
        unioned.dataset,
        unioned.anchor_item_id,
        unioned.item_a_id,
        unioned.item_b_id,
        unioned.relation_label,
        unioned.fbl_label,
        unioned.has_majority,
        (
            unioned.item_a_id in (select id_items.item_id from id_items)
            or unioned.item_b_id in (select id_items.item_id from id_items)
        ) as has_item_in_id_set,
        (
            unioned.item_a_id in (select pool_items.item_id from pool_items)
            or unioned.item_b_id in (select pool_items.item_id from pool_items)
        ) as has_item_in_pool,
        cast({{ split_seed }} as integer) as split_seed
    from unioned
)

select * from final
