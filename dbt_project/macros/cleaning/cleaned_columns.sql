{#-
    The cleaned columns of each entity, one definition shared by the batch staging models (bronze
    batch tables) and the live ones (bronze stream tables). Each macro renders a select list over
    the entity's bronze fields (text, with their JSON types in `_json_types`) and the typed index
    `index_value`: the original pipeline's columns first, in its order; the models add their lineage
    columns after it. The rules are those of docs/data-contract.md; the arguments and rules are
    described in macros/_macros.yml. Every field is first held to the JSON types the contract
    accepts for it (when_accepted_json_type, json_types.sql): a value of another type is NULL.
-#}

{% macro pin_cleaned_columns() -%}
    {%- set follower_count = null_if_placeholder('follower_count', 'follower_count') -%}
    {%- set save_location_prefix = 'Local save in ' -%}
    index_value as ind,
    {{ when_accepted_json_type('unique_id') }} as unique_id,
    {{ when_accepted_json_type('title', null_if_placeholder('title', 'title')) }} as title,
    {{ when_accepted_json_type('description', null_if_placeholder('description', 'description')) }}
        as description,
    -- digits as they are, `<digits>k` times 1,000, `<digits>M` times 1,000,000, anything else NULL;
    -- the digit counts are bounded so that the multiplication cannot overflow a bigint. A count
    -- above var('pinpipe_max_follower_count') is implausible and NULL too. A JSON integer is its
    -- digits; a JSON number with a fraction or exponent counts when integral (12000.0).
    {%- set parsed_follower_count -%}
    case
        when {{ json_type_of('follower_count') }} = 'f'
            then {{ parse_integral_number_in_range(follower_count, 0, var('pinpipe_max_follower_count')) }}
        when {{ regex_full_match(follower_count, '[0-9]{1,15}') }}
            then try_cast({{ follower_count }} as bigint)
        when {{ regex_full_match(follower_count, '[0-9]{1,12}k') }}
            then try_cast(substring({{ follower_count }}, 1, length({{ follower_count }}) - 1) as bigint) * 1000
        when {{ regex_full_match(follower_count, '[0-9]{1,9}M') }}
            then try_cast(substring({{ follower_count }}, 1, length({{ follower_count }}) - 1) as bigint) * 1000000
    end
    {%- endset %}
    {%- set cleaned_follower_count -%}
    case
        when ({{ parsed_follower_count }}) <= {{ var('pinpipe_max_follower_count') }}
            then ({{ parsed_follower_count }})
    end
    {%- endset %}
    {{ when_accepted_json_type('follower_count', cleaned_follower_count) }} as follower_count,
    {{ when_accepted_json_type('poster_name', null_if_placeholder('poster_name', 'poster_name')) }}
        as poster_name,
    {{ when_accepted_json_type('tag_list', null_if_placeholder('tag_list', 'tag_list')) }} as tag_list,
    {{ when_accepted_json_type(
        'is_image_or_video', null_if_not_in('is_image_or_video', var('pinpipe_media_types'))
    ) }} as is_image_or_video,
    {{ when_accepted_json_type('image_src', null_if_placeholder('image_src', 'image_src')) }} as image_src,
    -- without the `Local save in ` prefix (trailing space included); a value without it is kept
    {%- set cleaned_save_location -%}
    case
        when substring(save_location, 1, {{ save_location_prefix | length }})
            = {{ dbt.string_literal(save_location_prefix) }}
            then substring(save_location, {{ (save_location_prefix | length) + 1 }})
        else save_location
    end
    {%- endset %}
    {{ when_accepted_json_type('save_location', cleaned_save_location) }} as save_location,
    {{ when_accepted_json_type('category', null_if_not_in('category', var('pinpipe_categories'))) }}
        as category,
    {{ when_accepted_json_type(
        'downloaded', parse_integer_in_range('downloaded', 0, 1, json_type=json_type_of('downloaded'))
    ) }} as downloaded
{%- endmacro %}

{#- Geos in two steps: the parsed latitude and longitude feed `coordinates`. -#}
{% macro geo_parsed_columns() -%}
    index_value,
    {{ when_accepted_json_type('country') }} as country,
    {{ when_accepted_json_type('latitude', parse_double_in_range('latitude', -90, 90)) }} as latitude,
    {{ when_accepted_json_type('longitude', parse_double_in_range('longitude', -180, 180)) }} as longitude,
    {{ when_accepted_json_type('timestamp', plausible_timestamp(parse_iso_timestamp('timestamp'))) }}
        as posted_at
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
    {%- set first_name = when_accepted_json_type('first_name') -%}
    {%- set last_name = when_accepted_json_type('last_name') -%}
    index_value as ind,
    -- one space between the parts; NULL when either part is NULL
    ({{ first_name }} || ' ' || {{ last_name }}) as user_name,
    {%- set parsed_age = parse_integer_in_range(
        'age', age_range[0], age_range[1], max_digits=3, json_type=json_type_of('age')
    ) %}
    {{ when_accepted_json_type('age', parsed_age) }} as age,
    {{ when_accepted_json_type('date_joined', plausible_timestamp(parse_iso_timestamp('date_joined'))) }}
        as date_joined,
    {{ first_name }} as first_name,
    {{ last_name }} as last_name
{%- endmacro %}
