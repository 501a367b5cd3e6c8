{#-
    The cleaned columns of each entity, shared by the batch staging models (from the bronze batch
    tables) and the live ones (from the bronze stream tables): one definition of every rule of
    reference/source-data.md §4, used by both paths. Each macro renders a select list over the
    entity's bronze fields (as text) plus the typed index `index_value`, the original's columns in
    its order first; the models add their lineage columns after it.
-#}

{% macro pin_cleaned_columns() -%}
    index_value as ind,
    unique_id,
    {{ null_if_placeholder('title', 'title') }} as title,
    {{ null_if_placeholder('description', 'description') }} as description,
    {{ parse_follower_count(null_if_placeholder('follower_count', 'follower_count')) }}
        as follower_count,
    {{ null_if_placeholder('poster_name', 'poster_name') }} as poster_name,
    {{ null_if_placeholder('tag_list', 'tag_list') }} as tag_list,
    {{ null_if_not_in('is_image_or_video', var('pinpipe_media_types')) }} as is_image_or_video,
    {{ null_if_placeholder('image_src', 'image_src') }} as image_src,
    {{ strip_save_location_prefix('save_location') }} as save_location,
    {{ null_if_not_in('category', var('pinpipe_categories')) }} as category,
    {{ parse_integer_in_range('downloaded', 0, 1) }} as downloaded
{%- endmacro %}

{#- Geos in two steps: the parsed coordinates feed `coordinates`. -#}
{% macro geo_parsed_columns() -%}
    index_value,
    country,
    {{ parse_double_in_range('latitude', -90, 90) }} as latitude,
    {{ parse_double_in_range('longitude', -180, 180) }} as longitude,
    {{ parse_iso_timestamp('timestamp') }} as posted_at
{%- endmacro %}

{% macro geo_cleaned_columns() -%}
    index_value as ind,
    country,
    {{ to_coordinates('latitude', 'longitude') }} as coordinates,
    posted_at as timestamp,  -- noqa: RF04
    latitude,
    longitude
{%- endmacro %}

{% macro user_cleaned_columns() -%}
    index_value as ind,
    {{ full_name('first_name', 'last_name') }} as user_name,
    {{ parse_integer_in_range('age', 0, 120, max_digits=3) }} as age,
    {{ parse_iso_timestamp('date_joined') }} as date_joined,
    first_name,
    last_name
{%- endmacro %}
