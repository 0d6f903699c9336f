#!/usr/bin/env python3
"""Envoie les mesures d'un capteur de CO₂ de classe à Garonne, en MQTT.
Sends a classroom CO₂ sensor's readings to Garonne over MQTT.

Le guide « Votre projet sur Garonne en un après-midi » (docs/fr/votre-projet.md) l'explique pas
à pas. Sans capteur branché, le script simule des valeurs plausibles : remplacez la fonction
lire_capteur() par la lecture de votre capteur (SCD41, MH-Z19…).

    python3 envoyer_mesures.py --broker mqtt://127.0.0.1:1883 --capteur salle-b12

Identifiant et mot de passe du broker, s'il en demande : variables d'environnement
GARONNE_MQTT_USERNAME et GARONNE_MQTT_PASSWORD (jamais dans le code).
Needs paho-mqtt (pip install paho-mqtt, or Debian's python3-paho-mqtt); works with 1.x and 2.x.
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import datetime, timezone
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

PROFIL = "classe-co2"


def lire_capteur(seq):
    """Une mesure : remplacez-la par la lecture de votre capteur.
    One reading: replace this with your sensor's.

    Ici, une classe simulée : le CO₂ monte pendant le cours et retombe quand on aère.
    """
    minutes = seq % 60
    co2 = 450 + 18 * minutes + random.uniform(-15, 15)
    return {
        "co2": round(co2, 1),
        "temperature": round(20.5 + 0.03 * minutes + random.uniform(-0.1, 0.1), 2),
        "relativeHumidity": round(0.45 + 0.002 * minutes, 3),
        "pupils": 28,
    }


def mesure(args, seq):
    """La mesure au format de Garonne (docs/fr/specification-payload.md)."""
    maintenant = datetime.now(timezone.utc)
    return {
        "v": 1,
        "profile": PROFIL,
        "sensor_id": args.capteur,
        "kind": "classe-co2",
        "source": "device",
        # RFC 3339 en UTC, à la milliseconde : 2026-12-03T10:15:00.250Z
        "time": maintenant.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "seq": seq,
        "location": {"lon": args.lon, "lat": args.lat},
        "quantities": lire_capteur(seq),
    }


def client_mqtt(identifiant):
    """Un client paho, en version 2 comme en version 1 de la bibliothèque."""
    try:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=identifiant)
    except AttributeError:  # paho-mqtt 1.x
        return mqtt.Client(client_id=identifiant)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://HÔTE:PORT")
    p.add_argument("--capteur", default="salle-b12", help="identifiant du capteur (sensor_id)")
    p.add_argument("--prefixe", default="garonne", help="préfixe des topics (topic_prefix)")
    p.add_argument("--lon", type=float, default=1.4442, help="longitude (degrés)")
    p.add_argument("--lat", type=float, default=43.6047, help="latitude (degrés)")
    p.add_argument("--intervalle", type=float, default=60, help="secondes entre deux mesures")
    p.add_argument("--nombre", type=int, default=0, help="nombre de mesures (0 : sans fin)")
    args = p.parse_args()

    url = urlparse(args.broker)
    if url.scheme != "mqtt" or not url.hostname:
        sys.exit(f"--broker {args.broker!r} : attendu mqtt://HÔTE:PORT (expected mqtt://HOST:PORT)")
    client = client_mqtt(f"{args.capteur}-py")
    if os.environ.get("GARONNE_MQTT_USERNAME"):
        client.username_pw_set(os.environ["GARONNE_MQTT_USERNAME"], os.environ.get("GARONNE_MQTT_PASSWORD"))
    client.connect(url.hostname, url.port or 1883)
    client.loop_start()

    topic = f"{args.prefixe}/v1/sensors/{args.capteur}/reading"
    seq = 0
    try:
        while args.nombre == 0 or seq < args.nombre:
            texte = json.dumps(mesure(args, seq))
            # QoS 1 : le broker accuse réception ; on attend son accusé avant la mesure suivante.
            envoi = client.publish(topic, texte, qos=1)
            envoi.wait_for_publish(timeout=10)
            if not envoi.is_published():
                sys.exit(f"le broker n'a pas accusé réception de la mesure {seq} (no PUBACK)")
            print(f"{topic} {texte}", flush=True)
            seq += 1
            if args.nombre == 0 or seq < args.nombre:
                time.sleep(args.intervalle)
    except KeyboardInterrupt:
        pass
    finally:
        client.loop_stop()
        client.disconnect()


if __name__ == "__main__":
    main()
