#include "qmgr/schedule.h"

namespace postern::qmgr {

long backoff_delay(long age, long min_backoff, long max_backoff) {
  long d = age;
  if (d > max_backoff) d = max_backoff;
  if (d < min_backoff) d = min_backoff;
  return d;
}

bool message_expired(long age, bool null_sender, long max_lifetime, long bounce_lifetime,
                     bool forced) {
  if (forced) return true;
  long life = null_sender ? bounce_lifetime : max_lifetime;
  if (max_lifetime < bounce_lifetime && null_sender) life = max_lifetime;
  return age >= life;
}

}  // namespace postern::qmgr
