/* core/runtime/profile.c - zone dispatch to the attached profiler sink. */
#include "internal.h"

#include <ttml/profile_zones.h>

static const ttml_profile_sink *sink;

void ttml_profile_set_sink(const ttml_profile_sink *s) { sink = s; }
gboolean ttml_profile_active(void) { return sink != NULL; }

void ttml_zone_begin(const char *name, const char *category)
{
    if (G_UNLIKELY(sink)) sink->zone_begin(sink->user_data, name, category);
}

void ttml_zone_end(void)
{
    if (G_UNLIKELY(sink)) sink->zone_end(sink->user_data);
}
