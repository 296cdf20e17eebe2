<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>AddVoiceDialog</name>
    <message>
        <source>Audio files (*.wav *.flac *.ogg *.mp3 *.m4a *.opus);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose a clip of one person speaking clearly, 5 to 15 seconds long (30 s at most), and type exactly what it says. The new voice speaks like the clip.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Add a voice from a file</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>For example: Narrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Name:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Browse...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Clip:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Clip</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The audio file of the voice, 5 to 15 seconds</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the audio clip in a file dialog</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The name the voice is listed under</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Exactly what the clip says</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Transcript:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Add voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose a voice clip</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>CrashDialog</name>
    <message>
        <source>Unknown error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unexpected error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&lt;b&gt;cosydesk ran into an unexpected error.&lt;/b&gt; It keeps running, but what you were doing may not have finished. If this happens again, please report it with the text below.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The full log is in {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No log file is being written.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Error report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>What went wrong, and the recent lines of the log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Copy report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Copy the whole report to the clipboard</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>FirstRunDialog</name>
    <message>
        <source>&lt;b&gt;Welcome to cosydesk.&lt;/b&gt;&lt;br&gt;It reads text aloud with the CosyVoice3 model on your own computer. Choose the folder where you downloaded the model, or let cosydesk download it for you; your texts never leave this computer.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>What the model folder holds</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The files cosydesk expects in the model folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>For example ~/models/Fun-CosyVoice3-0.5B-2512</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Browse...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the model folder in a file dialog</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model &amp;folder:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Download it for me (several GB; the exact size shows as it starts)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Fetch the model folder from Hugging Face (HF_ENDPOINT names a mirror); a stopped download keeps the files that arrived.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Use this folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Later</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your first voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the folder that holds cosyvoice3.yaml.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The folder could not be read: {}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This is a CosyVoice3 model folder. The model loads in the background.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the CosyVoice3 model folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Asking for the file list of {}...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Downloading the model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The download was stopped; press Download to go on (the files that arrived are kept).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The download failed: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{message}
{done:.2f} of {total:.2f} GB</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>FirstVoicePage</name>
    <message>
        <source>&lt;b&gt;Your first voice&lt;/b&gt;&lt;br&gt;CosyVoice3 has no voice of its own: it speaks like a short example of someone speaking. Give it one now; you can add more later under Voices.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The starter voice comes with the model download; it could not be fetched, so record a voice or use a clip instead.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Record my voice...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Use a clip from a &amp;file...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Use the &amp;starter voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Read one sentence aloud: 5 to 15 seconds.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A recording of one person, with what it says.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Try it</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Hear the new voice read a short sentence</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>S&amp;kip for now</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>My voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Preparing the voice &apos;{}&apos; with the model (it loads first if needed)...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> and is your default voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The voice &apos;{name}&apos; is ready{default}. Press Try it to hear it, or Finish to start using cosydesk.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The voice &apos;{name}&apos; was not added. {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Finish</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Notice</name>
    <message>
        <source>Error: </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>OK: </source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>RecordDialog</name>
    <message>
        <source>On a quiet morning the baker opened the shop, lit the oven, and waited for the first customers of the day.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reading aloud is easier when you breathe calmly and let each sentence find its own rhythm.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Our train leaves at a quarter past nine, so pack the maps, the snacks and a warm jacket.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Bright yellow kites danced above the harbour while the fishing boats came slowly home.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Would you like a cup of tea, or shall we walk down to the river before it gets dark?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Recording needs the PortAudio library (on Debian/Ubuntu: sudo apt install libportaudio2); add a voice from an audio file instead. ({})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No microphone could be opened: connect one, close any program that holds it (and allow cosydesk to use it), or add a voice from an audio file instead. ({})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Record a voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Press Record and read the sentence below in your normal voice: 5 to 15 seconds (Stop works after 5 s; at 15 s the recording stops by itself). Listen to it, record it again if you like, then save it. Edit the text if you said something else.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Another sentence</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The sentence to read aloud while recording; edit it to match what you said</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Show another sentence to read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Read t&amp;his:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>For example: My voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Name:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Record</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Start recording with the microphone; press again to stop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The name the voice is listed under</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Microphone level</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Listen</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Play the recording back</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Save voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{seconds:.1f} s of {most:.0f} s</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Recording... read the sentence now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>S&amp;top</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Re&amp;take</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The microphone stopped after {seconds:.1f} s: check it and record again (at least {least:.0f} seconds).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nothing was heard: the microphone may be muted or turned down, or another input is chosen in the system&apos;s sound settings. Check it and record again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Recorded {:.1f} s. Listen to it, retake it, or save the voice.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stop &amp;listening</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The recording could not be written: {}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The model folder, quantisation and device</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Speech</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Default voice, speed and sound output</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Desktop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The global hotkey, and starting at login</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Speech API</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The local OpenAI-style speech API</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Settings pages</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model, Speech, Desktop and Speech API settings; Ctrl+Tab moves to the next page</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The folder holding cosyvoice3.yaml</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Browse...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the model folder in a file dialog</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Model &amp;folder:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Quantisation:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Flow/vocoder &amp;precision:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>8-bit &amp;outlier threshold:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Device:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Unload when idle:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> min</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Never</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>First voice in the library</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{} (missing)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Default &amp;voice:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> x</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Speed:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Start playing before the whole text is rendered</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Streaming:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Reading numbers:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>wetext is not installed, so the basic rules are used: pip install wetext</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>System default</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{} (not connected)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Output d&amp;evice:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Global hotkey</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Speak &amp;clipboard:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Speak clipboard hotkey</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Local speech API</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Serve the OpenAI-style speech &amp;API on this computer</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Serve the speech API</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Por&amp;t:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No key: only this computer can connect</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Key:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Login</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Start cosydesk when I &amp;log in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Start cosydesk in the tray at login, through {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Set by the environment variable {}; unset it to change this here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The settings could not be saved to {path} ({reason}); they apply until cosydesk quits.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the CosyVoice3 model folder</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>StatusBar</name>
    <message>
        <source>No CUDA GPU - running on CPU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Quantisation: -</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The model is not loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>4-bit NF4</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>8-bit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>none</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Quantisation: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>LLM: {llm}, flow: {flow}, vocoder: {vocoder}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> (automatic)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Automatic: 4-bit on a CUDA GPU; on the CPU none, which is faster there.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>4-bit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> (asked {})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Numbers are read with: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>card {used} / {total}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>torch finds no CUDA GPU, so the model runs on the CPU (slowly).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Running on CPU (GPU {})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The device setting keeps the model on the CPU.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>GPU: model not loaded, {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>GPU: model not loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name}: {size} on {device} ({precision})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>reserved by this process: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>GPU: model {model}, {card}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>GPU: model {model}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Starting...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the mo&amp;del...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Choose the CosyVoice3 model folder, or download it</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TextFile</name>
    <message>
        <source>Text files (*.txt *.md *.text);;All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name} is {size:.0f} MB, more than the {most:.0f} MB a text file can be here: open a smaller part.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name} could not be read: {reason}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{} is not a text file (it holds binary data): choose a .txt file.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{} is not UTF-8; it was read as Windows-1252, so some letters may be wrong. Save it as UTF-8 to be sure.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message>
        <source>Speak clipboard</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Pause</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stop</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Show window</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Settings...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Starting...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Resume</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>VoicesDialog</name>
    <message>
        <source>No voices yet. CosyVoice3 speaks like a short example: add a clip of someone speaking (with what it says), or record your own voice.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Hello! This is how I sound when I read your text aloud.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Voices</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The voices in the library; the default voice is in bold</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Add from file...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Record...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Re&amp;name...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Delete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Use as de&amp;fault</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Try it</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Hear the selected voice read a short sentence</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Stop adding the voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Add a voice from an audio clip and what it says</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Record a voice with the microphone</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Give the selected voice another name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete the selected voice and its clip</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Read with the selected voice when no other is picked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Close the voices window</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name}  ({seconds:.1f} s)  - default</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name}  ({seconds:.1f} s)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&lt;b&gt;{name}&lt;/b&gt; says: “{transcript}”</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&apos;{}&apos;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>, </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Adding {}: checking the clip and preparing it with the model (the model loads first if needed)...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The voice &apos;{name}&apos; was not added. {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rename voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New name for &apos;{}&apos;:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete the voice &apos;{}&apos; and its clip? This cannot be undone.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete voice</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The default voice could not be saved ({}).</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>config</name>
    <message>
        <source>How the LLM is quantised: auto (4-bit on a CUDA GPU, none on the CPU, where quantised layers are slow), 4-bit NF4, 8-bit LLM.int8 or none (full precision). QUANTIZATION_ENABLED=true/false and QUANTIZATION_BITS=4/8 override it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Automatic (4-bit on a GPU, none on the CPU)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>4-bit NF4 (least GPU memory)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>8-bit LLM.int8</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>None (full precision)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Precision of the flow and the vocoder: fp32, bf16 (where the card supports it) or fp16.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>fp32 (safest)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>bf16 (half the memory; needs a recent GPU)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>fp16 (guarded against silent audio)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>LLM.int8 outlier threshold in 8-bit mode: 6.0 (the value LLM.int8 was published with) or 0, which lets the decode step replay from a CUDA graph, so 8-bit speaks much faster.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Where the model runs: auto (the GPU when there is one), cuda or cpu.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Automatic (GPU when present)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>CUDA GPU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>CPU</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The CosyVoice3 model folder (the one holding cosyvoice3.yaml); empty until chosen.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Global shortcut that reads the clipboard aloud.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sound output device; empty means the system default.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Voice used when none is picked; empty means the first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Speaking speed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unload the model after this many idle minutes to free GPU memory; 0 keeps it loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Start playing while the rest of the text is synthesised.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>How numbers, dates, amounts and units become words: wetext&apos;s grammars as upstream uses them (&apos;$5&apos; is read &apos;five dollars&apos;), or basic (only bare digits are spelled out).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Full: numbers, dates, amounts and units (wetext)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Basic: only digits are spelled out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Serve the local HTTP API.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Port of the local HTTP API.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Key the local HTTP API asks for; empty means none.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The first-run dialog has been completed.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
