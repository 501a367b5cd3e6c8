{#-
    The cleaned columns of each entity, one definition shared by the batch staging models (bronze
    batch tables) and the live ones (bronze stream tables). Each macro renders a select list over
    the entity's bronze fields (text) and the typed index `index_value`: the original pipeline's
    columns first, in its order; the models add their lineage columns after it. The rules are those
    of docs/data-contract.md; the arguments and rules are described in macros/_macros.yml.
-#}

{% macro pin_cleaned_columns() -%}
    {%- set follower_count = null_if_placeholder('follower_count', 'follower_count') -%}
    {%- set save_location_prefix = 'Local save in ' -%}
    index_value as ind,
    unique_id,
    {{ null_if_placeholder('title', 'title') }} as title,
    {{ null_if_placeholder('description', 'description') }} as description,
    -- digits as they are, `<digits>k` times 1,000, `<digits>M` times 1,000,000, anything else NULL;
    -- the digit counts are bounded so that the multiplication cannot overflow a bigint. A count
    -- above var('pinpipe_max_follower_count') is implausible and NULL too.
    {%- set parsed_follower_count -%}
    case
        when {{ regex_full_match(follower_count, '[0-9]{1,15}') }}
            then try_cast({{ follower_count }} as bigint)
        when {{ regex_full_match(follower_count, '[0-9]{1,12}k') }}
            then try_cast(substring({{ follower_count }}, 1, length({{ follower_count }}) - 1) as bigint) * 1000
        when {{ regex_full_match(follower_count, '[0-9]{1,9}M') }}
            then try_cast(substring({{ follower_count }}, 1, length({{ follower_count }}) - 1) as bigint) * 1000000
    end
    {%- endset %}
    case
        when ({{ parsed_follower_count }}) <= {{ var('pinpipe_max_follower_count') }}
            then ({{ parsed_follower_count }})
    end as follower_count,
    {{ null_if_placeholder('poster_name', 'poster_name') }} as poster_name,
    {{ null_if_placeholder('tag_list', 'tag_list') }} as tag_list,
    {{ null_if_not_in('is_image_or_video', var('pinpipe_media_types')) }} as is_image_or_video,
    {{ null_if_placeholder('image_src', 'image_src') }} as image_src,
    -- without the `Local save in ` prefix (trailing space included); a value without it is kept
    case
        when substring(save_location, 1, {{ save_location_prefix | length }})
            = {{ dbt.string_literal(save_location_prefix) }}
            then substring(save_location, {{ (save_location_prefix | length) + 1 }})
        else save_location
    end as save_location,
    {{ null_if_not_in('category', var('pinpipe_categories')) }} as category,
    {{ parse_integer_in_range('downloaded', 0, 1) }} as downloaded
{%- endmacro %}

{#- Geos in two steps: the parsed latitude and longitude feed `coordinates`. -#}
{% macro geo_parsed_columns() -%}
    index_value,
    country,
    {{ parse_double_in_range('latitude', -90, 90) }} as latitude,
    {{ parse_double_in_range('longitude', -180, 180) }} as longitude,
    {{ plausible_timestamp(parse_iso_timestamp('timestamp')) }} as posted_at
{%- endmacro %}

{% macro geo_cleaned_columns() -%}
    index_value as ind,
    country,
    -- [latitude, longitude] in that order; NULL when either part is NULL (never half a position)
    case
        when latitude is not null and longitude is not null
            then {{ array_of(['latitude', 'longitude']) }}
    end as coordinates,
    posted_at as timestamp,  -- noqa: RF04
    latitude,
    longitude
{%- endmacro %}

{% macro user_cleaned_columns() -%}
    {%- set age_range = var('pinpipe_age_range') -%}
    index_value as ind,
    -- one space between the parts; NULL when either part is NULL
    (first_name || ' ' || last_name) as user_name,
    {{ parse_integer_in_range('age', age_range[0], age_range[1], max_digits=3) }} as age,
    {{ plausible_timestamp(parse_iso_timestamp('date_joined')) }} as date_joined,
    first_name,
    last_name
{%- endmacro %}
