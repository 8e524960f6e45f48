global-incdirs-y += include
srcs-y += teed_rig_ta.c
