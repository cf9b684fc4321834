/* placeholder: vl_open_stream is being written (issue 2). */
#include "vmlua.h"

void vl_open_stream(lua_State *L)
{
	(void)L;
}
