#ifndef CBM_CMOSQUITTO_SHIM_H
#define CBM_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
