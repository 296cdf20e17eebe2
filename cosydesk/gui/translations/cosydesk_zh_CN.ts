<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>AddVoiceDialog</name>
    <message>
        <source>Audio files (*.wav *.flac *.ogg *.mp3 *.m4a *.opus);;All files (*)</source>
        <translation>音频文件 (*.wav *.flac *.ogg *.mp3 *.m4a *.opus);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Choose a clip of one person speaking clearly, 5 to 15 seconds long (30 s at most), and type exactly what it says. The new voice speaks like the clip.</source>
        <translation>请选择一段单人清晰说话的音频，时长 5 到 15 秒（最长 30 秒），并逐字输入其中所说的内容。新声音会模仿这段音频说话。</translation>
    </message>
    <message>
        <source>Add a voice from a file</source>
        <translation>从文件添加声音</translation>
    </message>
    <message>
        <source>For example: Narrator</source>
        <translation>例如：旁白</translation>
    </message>
    <message>
        <source>&amp;Name:</source>
        <translation>名称(&amp;N)：</translation>
    </message>
    <message>
        <source>&amp;Browse...</source>
        <translation>浏览(&amp;B)...</translation>
    </message>
    <message>
        <source>&amp;Clip:</source>
        <translation>音频(&amp;C)：</translation>
    </message>
    <message>
        <source>Clip</source>
        <translation>音频</translation>
    </message>
    <message>
        <source>The audio file of the voice, 5 to 15 seconds</source>
        <translation>该声音的音频文件，5 到 15 秒</translation>
    </message>
    <message>
        <source>Choose the audio clip in a file dialog</source>
        <translation>在文件对话框中选择音频</translation>
    </message>
    <message>
        <source>The name the voice is listed under</source>
        <translation>声音在列表中显示的名称</translation>
    </message>
    <message>
        <source>Exactly what the clip says</source>
        <translation>音频中所说的原文，须逐字一致</translation>
    </message>
    <message>
        <source>&amp;Transcript:</source>
        <translation>文本(&amp;T)：</translation>
    </message>
    <message>
        <source>&amp;Add voice</source>
        <translation>添加声音(&amp;A)</translation>
    </message>
    <message>
        <source>Choose a voice clip</source>
        <translation>选择声音音频</translation>
    </message>
</context>
<context>
    <name>CrashDialog</name>
    <message>
        <source>Unknown error</source>
        <translation>未知错误</translation>
    </message>
    <message>
        <source>Unexpected error</source>
        <translation>意外错误</translation>
    </message>
    <message>
        <source>&lt;b&gt;cosydesk ran into an unexpected error.&lt;/b&gt; It keeps running, but what you were doing may not have finished. If this happens again, please report it with the text below.</source>
        <translation>&lt;b&gt;cosydesk 遇到了意外错误。&lt;/b&gt;程序仍在运行，但你刚才的操作可能没有完成。如果再次出现，请附上下面的文字报告此问题。</translation>
    </message>
    <message>
        <source>The full log is in {}</source>
        <translation>完整日志位于 {}</translation>
    </message>
    <message>
        <source>No log file is being written.</source>
        <translation>当前没有写入日志文件。</translation>
    </message>
    <message>
        <source>Error report</source>
        <translation>错误报告</translation>
    </message>
    <message>
        <source>What went wrong, and the recent lines of the log</source>
        <translation>出错的内容，以及最近的日志</translation>
    </message>
    <message>
        <source>&amp;Copy report</source>
        <translation>复制报告(&amp;C)</translation>
    </message>
    <message>
        <source>Copy the whole report to the clipboard</source>
        <translation>将完整报告复制到剪贴板</translation>
    </message>
</context>
<context>
    <name>FirstRunDialog</name>
    <message>
        <source>&lt;b&gt;Welcome to cosydesk.&lt;/b&gt;&lt;br&gt;It reads text aloud with the CosyVoice3 model on your own computer. Choose the folder where you downloaded the model, or let cosydesk download it for you; your texts never leave this computer.</source>
        <translation>&lt;b&gt;欢迎使用 cosydesk。&lt;/b&gt;&lt;br&gt;它在你自己的电脑上用 CosyVoice3 模型朗读文字。请选择你下载模型的文件夹，或让 cosydesk 为你下载；你的文字始终不会离开这台电脑。</translation>
    </message>
    <message>
        <source>Choose the model</source>
        <translation>选择模型</translation>
    </message>
    <message>
        <source>What the model folder holds</source>
        <translation>模型文件夹包含的内容</translation>
    </message>
    <message>
        <source>The files cosydesk expects in the model folder</source>
        <translation>cosydesk 需要模型文件夹中包含的文件</translation>
    </message>
    <message>
        <source>For example ~/models/Fun-CosyVoice3-0.5B-2512</source>
        <translation>例如 ~/models/Fun-CosyVoice3-0.5B-2512</translation>
    </message>
    <message>
        <source>&amp;Browse...</source>
        <translation>浏览(&amp;B)...</translation>
    </message>
    <message>
        <source>Choose the model folder in a file dialog</source>
        <translation>在文件对话框中选择模型文件夹</translation>
    </message>
    <message>
        <source>Model &amp;folder:</source>
        <translation>模型文件夹(&amp;F)：</translation>
    </message>
    <message>
        <source>&amp;Download it for me (several GB; the exact size shows as it starts)</source>
        <translation>帮我下载(&amp;D)（数 GB；开始后显示确切大小）</translation>
    </message>
    <message>
        <source>Fetch the model folder from Hugging Face (HF_ENDPOINT names a mirror); a stopped download keeps the files that arrived.</source>
        <translation>从 Hugging Face 获取模型文件夹（可用 HF_ENDPOINT 指定镜像）；下载中止后，已下载的文件会保留。</translation>
    </message>
    <message>
        <source>&amp;Use this folder</source>
        <translation>使用此文件夹(&amp;U)</translation>
    </message>
    <message>
        <source>&amp;Later</source>
        <translation>稍后(&amp;L)</translation>
    </message>
    <message>
        <source>Your first voice</source>
        <translation>你的第一个声音</translation>
    </message>
    <message>
        <source>Choose the folder that holds cosyvoice3.yaml.</source>
        <translation>请选择包含 cosyvoice3.yaml 的文件夹。</translation>
    </message>
    <message>
        <source>The folder could not be read: {}.</source>
        <translation>无法读取该文件夹：{}。</translation>
    </message>
    <message>
        <source>This is a CosyVoice3 model folder. The model loads in the background.</source>
        <translation>这是一个 CosyVoice3 模型文件夹。模型将在后台加载。</translation>
    </message>
    <message>
        <source>Choose the CosyVoice3 model folder</source>
        <translation>选择 CosyVoice3 模型文件夹</translation>
    </message>
    <message>
        <source>Asking for the file list of {}...</source>
        <translation>正在获取 {} 的文件列表...</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Downloading the model</source>
        <translation>正在下载模型</translation>
    </message>
    <message>
        <source>The download was stopped; press Download to go on (the files that arrived are kept).</source>
        <translation>下载已停止；按“下载”可继续（已下载的文件会保留）。</translation>
    </message>
    <message>
        <source>The download failed: {}</source>
        <translation>下载失败：{}</translation>
    </message>
    <message>
        <source>{message}
{done:.2f} of {total:.2f} GB</source>
        <translation>{message}
{done:.2f} / {total:.2f} GB</translation>
    </message>
</context>
<context>
    <name>FirstVoicePage</name>
    <message>
        <source>&lt;b&gt;Your first voice&lt;/b&gt;&lt;br&gt;CosyVoice3 has no voice of its own: it speaks like a short example of someone speaking. Give it one now; you can add more later under Voices.</source>
        <translation>&lt;b&gt;你的第一个声音&lt;/b&gt;&lt;br&gt;CosyVoice3 没有自己的声音：它会模仿一段简短的说话示例。现在就给它一个吧；之后可以在“声音”中添加更多。</translation>
    </message>
    <message>
        <source>The starter voice comes with the model download; it could not be fetched, so record a voice or use a clip instead.</source>
        <translation>入门声音随模型一起下载，但这次未能获取；请录制一个声音，或使用一段音频。</translation>
    </message>
    <message>
        <source>&amp;Record my voice...</source>
        <translation>录制我的声音(&amp;R)...</translation>
    </message>
    <message>
        <source>Use a clip from a &amp;file...</source>
        <translation>使用文件中的音频(&amp;F)...</translation>
    </message>
    <message>
        <source>Use the &amp;starter voice</source>
        <translation>使用入门声音(&amp;S)</translation>
    </message>
    <message>
        <source>Read one sentence aloud: 5 to 15 seconds.</source>
        <translation>朗读一句话：5 到 15 秒。</translation>
    </message>
    <message>
        <source>A recording of one person, with what it says.</source>
        <translation>一段单人录音，并附上其中所说的内容。</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>&amp;Try it</source>
        <translation>试听(&amp;T)</translation>
    </message>
    <message>
        <source>Hear the new voice read a short sentence</source>
        <translation>听新声音朗读一句短句</translation>
    </message>
    <message>
        <source>S&amp;kip for now</source>
        <translation>暂时跳过(&amp;K)</translation>
    </message>
    <message>
        <source>My voice</source>
        <translation>我的声音</translation>
    </message>
    <message>
        <source>Preparing the voice &apos;{}&apos; with the model (it loads first if needed)...</source>
        <translation>正在用模型准备声音“{}”（如有需要会先加载模型）...</translation>
    </message>
    <message>
        <source> and is your default voice</source>
        <translation>，并已设为默认声音</translation>
    </message>
    <message>
        <source>The voice &apos;{name}&apos; is ready{default}. Press Try it to hear it, or Finish to start using cosydesk.</source>
        <translation>声音“{name}”已就绪{default}。按“试听”听一听，或按“完成”开始使用 cosydesk。</translation>
    </message>
    <message>
        <source>The voice &apos;{name}&apos; was not added. {reason}</source>
        <translation>未能添加声音“{name}”。{reason}</translation>
    </message>
    <message>
        <source>&amp;Finish</source>
        <translation>完成(&amp;F)</translation>
    </message>
</context>
<context>
    <name>ListenBar</name>
    <message>
        <source>Previous sentence</source>
        <translation>上一句</translation>
    </message>
    <message>
        <source>Go back one sentence (Alt+Left)</source>
        <translation>后退一句（Alt+Left）</translation>
    </message>
    <message>
        <source>Next sentence</source>
        <translation>下一句</translation>
    </message>
    <message>
        <source>Skip to the next sentence (Alt+Right)</source>
        <translation>跳到下一句（Alt+Right）</translation>
    </message>
    <message>
        <source>Sp&amp;eed:</source>
        <translation>语速(&amp;E)：</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>语速</translation>
    </message>
    <message>
        <source>Vo&amp;lume:</source>
        <translation>音量(&amp;L)：</translation>
    </message>
    <message>
        <source>Volume</source>
        <translation>音量</translation>
    </message>
    <message>
        <source>Time heard, and time left of the speech</source>
        <translation>已听时间和剩余时间</translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Type or paste the text to read aloud, then press Speak (Ctrl+Enter).</source>
        <translation>输入或粘贴要朗读的文本，然后按“朗读”（Ctrl+Enter）。</translation>
    </message>
    <message>
        <source>&amp;Voice:</source>
        <translation>声音(&amp;V)：</translation>
    </message>
    <message>
        <source>Voice</source>
        <translation>声音</translation>
    </message>
    <message>
        <source>The voice that reads the text aloud</source>
        <translation>朗读文本所用的声音</translation>
    </message>
    <message>
        <source>&amp;Manage voices...</source>
        <translation>管理声音(&amp;M)...</translation>
    </message>
    <message>
        <source>Add a voice from a clip or the microphone; rename or delete voices</source>
        <translation>从音频片段或麦克风添加声音；重命名或删除声音</translation>
    </message>
    <message>
        <source>Text to read</source>
        <translation>要朗读的文本</translation>
    </message>
    <message>
        <source>Type or paste the text to read aloud; Ctrl+Enter reads it, Ctrl+S saves it as WAV</source>
        <translation>输入或粘贴要朗读的文本；Ctrl+Enter 朗读，Ctrl+S 保存为 WAV</translation>
    </message>
    <message>
        <source>&amp;Speak</source>
        <translation>朗读(&amp;S)</translation>
    </message>
    <message>
        <source>Read the text aloud (Ctrl+Enter)</source>
        <translation>朗读文本（Ctrl+Enter）</translation>
    </message>
    <message>
        <source>&amp;Pause</source>
        <translation>暂停(&amp;P)</translation>
    </message>
    <message>
        <source>S&amp;top</source>
        <translation>停止(&amp;T)</translation>
    </message>
    <message>
        <source>Stop speaking (Esc)</source>
        <translation>停止朗读（Esc）</translation>
    </message>
    <message>
        <source>Save as &amp;WAV...</source>
        <translation>另存为 WAV(&amp;W)...</translation>
    </message>
    <message>
        <source>Read the text aloud, or only the selection when there is one (Ctrl+Enter)</source>
        <translation>朗读文本；有选中内容时只朗读选中部分（Ctrl+Enter）</translation>
    </message>
    <message>
        <source>Pause the reading, or resume it (Ctrl+P)</source>
        <translation>暂停或继续朗读（Ctrl+P）</translation>
    </message>
    <message>
        <source>Stop reading (Esc)</source>
        <translation>停止朗读（Esc）</translation>
    </message>
    <message>
        <source>Save the text, read aloud, as a WAV file (Ctrl+S)</source>
        <translation>将文本朗读并保存为 WAV 文件（Ctrl+S）</translation>
    </message>
    <message>
        <source>From c&amp;ursor</source>
        <translation>从光标处(&amp;U)</translation>
    </message>
    <message>
        <source>Read from the text cursor on (Ctrl+Shift+Enter)</source>
        <translation>从文本光标处开始朗读（Ctrl+Shift+Enter）</translation>
    </message>
    <message>
        <source>Co&amp;ntinue</source>
        <translation>继续(&amp;N)</translation>
    </message>
    <message>
        <source>Read on from where the last reading of this text stopped (Ctrl+Shift+R)</source>
        <translation>从上次朗读此文本停下的地方继续（Ctrl+Shift+R）</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;Open text...</source>
        <translation>打开文本(&amp;O)...</translation>
    </message>
    <message>
        <source>&amp;Close window</source>
        <translation>关闭窗口(&amp;C)</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>Spee&amp;ch</source>
        <translation>朗读(&amp;C)</translation>
    </message>
    <message>
        <source>&amp;Pause / Resume</source>
        <translation>暂停/继续(&amp;P)</translation>
    </message>
    <message>
        <source>Read from the &amp;cursor</source>
        <translation>从光标处朗读(&amp;C)</translation>
    </message>
    <message>
        <source>Co&amp;ntinue where it stopped</source>
        <translation>从停下处继续(&amp;N)</translation>
    </message>
    <message>
        <source>Pre&amp;vious sentence</source>
        <translation>上一句(&amp;V)</translation>
    </message>
    <message>
        <source>Ne&amp;xt sentence</source>
        <translation>下一句(&amp;X)</translation>
    </message>
    <message>
        <source>T&amp;ools</source>
        <translation>工具(&amp;O)</translation>
    </message>
    <message>
        <source>&amp;Voices...</source>
        <translation>声音(&amp;V)...</translation>
    </message>
    <message>
        <source>&amp;Settings...</source>
        <translation>设置(&amp;S)...</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>Open the &amp;log folder</source>
        <translation>打开日志文件夹(&amp;L)</translation>
    </message>
    <message>
        <source>&amp;About cosydesk</source>
        <translation>关于 cosydesk(&amp;A)</translation>
    </message>
    <message>
        <source>No voices yet - add one</source>
        <translation>还没有声音 - 请添加一个</translation>
    </message>
    <message>
        <source>&amp;Resume</source>
        <translation>继续(&amp;R)</translation>
    </message>
</context>
<context>
    <name>Notice</name>
    <message>
        <source>Error: </source>
        <translation>错误：</translation>
    </message>
    <message>
        <source>OK: </source>
        <translation>成功：</translation>
    </message>
</context>
<context>
    <name>RecordDialog</name>
    <message>
        <source>On a quiet morning the baker opened the shop, lit the oven, and waited for the first customers of the day.</source>
        <translation>一个安静的早晨，面包师打开店门，点起烤炉，等待当天的第一批客人。</translation>
    </message>
    <message>
        <source>Reading aloud is easier when you breathe calmly and let each sentence find its own rhythm.</source>
        <translation>朗读时呼吸平稳，让每句话找到自己的节奏，就会轻松许多。</translation>
    </message>
    <message>
        <source>Our train leaves at a quarter past nine, so pack the maps, the snacks and a warm jacket.</source>
        <translation>我们的火车九点一刻出发，记得带上地图、零食和一件暖和的外套。</translation>
    </message>
    <message>
        <source>Bright yellow kites danced above the harbour while the fishing boats came slowly home.</source>
        <translation>明黄色的风筝在港口上空飞舞，渔船正慢慢驶回家。</translation>
    </message>
    <message>
        <source>Would you like a cup of tea, or shall we walk down to the river before it gets dark?</source>
        <translation>你想喝杯茶吗？还是我们趁天黑之前去河边走走？</translation>
    </message>
    <message>
        <source>Recording needs the PortAudio library (on Debian/Ubuntu: sudo apt install libportaudio2); add a voice from an audio file instead. ({})</source>
        <translation>录音需要 PortAudio 库（Debian/Ubuntu 上：sudo apt install libportaudio2）；也可以改为从音频文件添加声音。（{}）</translation>
    </message>
    <message>
        <source>No microphone could be opened: connect one, close any program that holds it (and allow cosydesk to use it), or add a voice from an audio file instead. ({})</source>
        <translation>无法打开麦克风：请连接麦克风，关闭正在占用它的程序（并允许 cosydesk 使用它），或改为从音频文件添加声音。（{}）</translation>
    </message>
    <message>
        <source>Record a voice</source>
        <translation>录制声音</translation>
    </message>
    <message>
        <source>Press Record and read the sentence below in your normal voice: 5 to 15 seconds (Stop works after 5 s; at 15 s the recording stops by itself). Listen to it, record it again if you like, then save it. Edit the text if you said something else.</source>
        <translation>按“录音”，用平常的声音朗读下面的句子：5 到 15 秒（5 秒后可以停止；到 15 秒时录音自动停止）。回放听一听，如有需要可以重录，然后保存。如果你说的内容不同，请修改文字。</translation>
    </message>
    <message>
        <source>Another sentence</source>
        <translation>换一句</translation>
    </message>
    <message>
        <source>The sentence to read aloud while recording; edit it to match what you said</source>
        <translation>录音时要朗读的句子；请修改它，使之与你所说的一致</translation>
    </message>
    <message>
        <source>Show another sentence to read</source>
        <translation>显示另一句要朗读的句子</translation>
    </message>
    <message>
        <source>Read t&amp;his:</source>
        <translation>朗读这句(&amp;H)：</translation>
    </message>
    <message>
        <source>For example: My voice</source>
        <translation>例如：我的声音</translation>
    </message>
    <message>
        <source>&amp;Name:</source>
        <translation>名称(&amp;N)：</translation>
    </message>
    <message>
        <source>&amp;Record</source>
        <translation>录音(&amp;R)</translation>
    </message>
    <message>
        <source>Start recording with the microphone; press again to stop</source>
        <translation>开始用麦克风录音；再按一次停止</translation>
    </message>
    <message>
        <source>The name the voice is listed under</source>
        <translation>声音在列表中显示的名称</translation>
    </message>
    <message>
        <source>Microphone level</source>
        <translation>麦克风音量</translation>
    </message>
    <message>
        <source>&amp;Listen</source>
        <translation>回放(&amp;L)</translation>
    </message>
    <message>
        <source>Play the recording back</source>
        <translation>播放录音</translation>
    </message>
    <message>
        <source>&amp;Save voice</source>
        <translation>保存声音(&amp;S)</translation>
    </message>
    <message>
        <source>{seconds:.1f} s of {most:.0f} s</source>
        <translation>{seconds:.1f} 秒 / {most:.0f} 秒</translation>
    </message>
    <message>
        <source>Recording... read the sentence now.</source>
        <translation>正在录音...请朗读句子。</translation>
    </message>
    <message>
        <source>S&amp;top</source>
        <translation>停止(&amp;T)</translation>
    </message>
    <message>
        <source>Re&amp;take</source>
        <translation>重录(&amp;T)</translation>
    </message>
    <message>
        <source>The microphone stopped after {seconds:.1f} s: check it and record again (at least {least:.0f} seconds).</source>
        <translation>麦克风在 {seconds:.1f} 秒后停止了：请检查后重新录音（至少 {least:.0f} 秒）。</translation>
    </message>
    <message>
        <source>Nothing was heard: the microphone may be muted or turned down, or another input is chosen in the system&apos;s sound settings. Check it and record again.</source>
        <translation>没有录到声音：麦克风可能已静音或音量太低，或系统声音设置中选择了其他输入设备。请检查后重新录音。</translation>
    </message>
    <message>
        <source>Recorded {:.1f} s. Listen to it, retake it, or save the voice.</source>
        <translation>已录制 {:.1f} 秒。可以回放、重录或保存声音。</translation>
    </message>
    <message>
        <source>Stop &amp;listening</source>
        <translation>停止回放(&amp;L)</translation>
    </message>
    <message>
        <source>The recording could not be written: {}</source>
        <translation>无法写入录音：{}</translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>The model folder, quantisation and device</source>
        <translation>模型文件夹、量化和设备</translation>
    </message>
    <message>
        <source>Speech</source>
        <translation>语音</translation>
    </message>
    <message>
        <source>Default voice, speed and sound output</source>
        <translation>默认声音、语速和声音输出</translation>
    </message>
    <message>
        <source>Desktop</source>
        <translation>桌面</translation>
    </message>
    <message>
        <source>The global hotkey, and starting at login</source>
        <translation>全局快捷键，以及登录时启动</translation>
    </message>
    <message>
        <source>Speech API</source>
        <translation>语音 API</translation>
    </message>
    <message>
        <source>The local OpenAI-style speech API</source>
        <translation>本地 OpenAI 风格的语音 API</translation>
    </message>
    <message>
        <source>Settings pages</source>
        <translation>设置页面</translation>
    </message>
    <message>
        <source>Model, Speech, Desktop and Speech API settings; Ctrl+Tab moves to the next page</source>
        <translation>模型、语音、桌面和语音 API 设置；按 Ctrl+Tab 切换到下一页</translation>
    </message>
    <message>
        <source>The folder holding cosyvoice3.yaml</source>
        <translation>包含 cosyvoice3.yaml 的文件夹</translation>
    </message>
    <message>
        <source>&amp;Browse...</source>
        <translation>浏览(&amp;B)...</translation>
    </message>
    <message>
        <source>Choose the model folder in a file dialog</source>
        <translation>在文件对话框中选择模型文件夹</translation>
    </message>
    <message>
        <source>Model folder</source>
        <translation>模型文件夹</translation>
    </message>
    <message>
        <source>Model &amp;folder:</source>
        <translation>模型文件夹(&amp;F)：</translation>
    </message>
    <message>
        <source>&amp;Quantisation:</source>
        <translation>量化(&amp;Q)：</translation>
    </message>
    <message>
        <source>Flow/vocoder &amp;precision:</source>
        <translation>Flow/声码器精度(&amp;P)：</translation>
    </message>
    <message>
        <source>8-bit &amp;outlier threshold:</source>
        <translation>8 位离群值阈值(&amp;O)：</translation>
    </message>
    <message>
        <source>0 (off: fastest)</source>
        <translation>0（关闭：最快）</translation>
    </message>
    <message>
        <source>&amp;Device:</source>
        <translation>设备(&amp;D)：</translation>
    </message>
    <message>
        <source>&amp;Unload when idle:</source>
        <translation>空闲时卸载(&amp;U)：</translation>
    </message>
    <message>
        <source> min</source>
        <translation> 分钟</translation>
    </message>
    <message>
        <source>Never</source>
        <translation>从不</translation>
    </message>
    <message>
        <source>First voice in the library</source>
        <translation>声音库中的第一个声音</translation>
    </message>
    <message>
        <source>{} (missing)</source>
        <translation>{}（缺失）</translation>
    </message>
    <message>
        <source>Default &amp;voice:</source>
        <translation>默认声音(&amp;V)：</translation>
    </message>
    <message>
        <source> x</source>
        <translation> 倍</translation>
    </message>
    <message>
        <source>&amp;Speed:</source>
        <translation>语速(&amp;S)：</translation>
    </message>
    <message>
        <source>Start playing before the whole text is rendered</source>
        <translation>整段文字合成完之前就开始播放</translation>
    </message>
    <message>
        <source>Streaming:</source>
        <translation>流式播放：</translation>
    </message>
    <message>
        <source>&amp;Reading numbers:</source>
        <translation>数字读法(&amp;R)：</translation>
    </message>
    <message>
        <source>wetext is not installed, so the basic rules are used: pip install wetext</source>
        <translation>未安装 wetext，因此使用基本规则：pip install wetext</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>系统默认</translation>
    </message>
    <message>
        <source>{} (not connected)</source>
        <translation>{}（未连接）</translation>
    </message>
    <message>
        <source>Output d&amp;evice:</source>
        <translation>输出设备(&amp;E)：</translation>
    </message>
    <message>
        <source>Global hotkey</source>
        <translation>全局快捷键</translation>
    </message>
    <message>
        <source>Speak &amp;clipboard:</source>
        <translation>朗读剪贴板(&amp;C)：</translation>
    </message>
    <message>
        <source>Speak clipboard hotkey</source>
        <translation>朗读剪贴板的快捷键</translation>
    </message>
    <message>
        <source>Local speech API</source>
        <translation>本地语音 API</translation>
    </message>
    <message>
        <source>Serve the OpenAI-style speech &amp;API on this computer</source>
        <translation>在本机提供 OpenAI 风格的语音 API(&amp;A)</translation>
    </message>
    <message>
        <source>Serve the speech API</source>
        <translation>提供语音 API</translation>
    </message>
    <message>
        <source>Por&amp;t:</source>
        <translation>端口(&amp;T)：</translation>
    </message>
    <message>
        <source>No key: only this computer can connect</source>
        <translation>不设密钥：只有本机可以连接</translation>
    </message>
    <message>
        <source>&amp;Key:</source>
        <translation>密钥(&amp;K)：</translation>
    </message>
    <message>
        <source>Login</source>
        <translation>登录</translation>
    </message>
    <message>
        <source>Start cosydesk when I &amp;log in</source>
        <translation>登录时启动 cosydesk(&amp;L)</translation>
    </message>
    <message>
        <source>Start cosydesk in the tray at login, through {}</source>
        <translation>登录时在托盘中启动 cosydesk，通过 {}</translation>
    </message>
    <message>
        <source>Set by the environment variable {}; unset it to change this here.</source>
        <translation>由环境变量 {} 设置；取消该变量后才能在这里修改。</translation>
    </message>
    <message>
        <source>The settings could not be saved to {path} ({reason}); they apply until cosydesk quits.</source>
        <translation>无法将设置保存到 {path}（{reason}）；这些设置在 cosydesk 退出前有效。</translation>
    </message>
    <message>
        <source>Choose the CosyVoice3 model folder</source>
        <translation>选择 CosyVoice3 模型文件夹</translation>
    </message>
</context>
<context>
    <name>StatusBar</name>
    <message>
        <source>No CUDA GPU - running on CPU</source>
        <translation>没有 CUDA GPU - 在 CPU 上运行</translation>
    </message>
    <message>
        <source>Quantisation: -</source>
        <translation>量化：-</translation>
    </message>
    <message>
        <source>The model is not loaded.</source>
        <translation>模型尚未加载。</translation>
    </message>
    <message>
        <source>4-bit NF4</source>
        <translation>4 位 NF4</translation>
    </message>
    <message>
        <source>8-bit</source>
        <translation>8 位</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>Quantisation: {}</source>
        <translation>量化：{}</translation>
    </message>
    <message>
        <source>LLM: {llm}, flow: {flow}, vocoder: {vocoder}</source>
        <translation>LLM：{llm}，flow：{flow}，声码器：{vocoder}</translation>
    </message>
    <message>
        <source> (automatic)</source>
        <translation>（自动）</translation>
    </message>
    <message>
        <source>Automatic: 4-bit on a CUDA GPU; on the CPU none, which is faster there.</source>
        <translation>自动：在 CUDA GPU 上使用 4 位；在 CPU 上不量化，这样在 CPU 上更快。</translation>
    </message>
    <message>
        <source>4-bit</source>
        <translation>4 位</translation>
    </message>
    <message>
        <source> (asked {})</source>
        <translation>（设置为 {}）</translation>
    </message>
    <message>
        <source>Numbers are read with: {}</source>
        <translation>数字读法：{}</translation>
    </message>
    <message>
        <source>card {used} / {total}</source>
        <translation>显卡 {used} / {total}</translation>
    </message>
    <message>
        <source>torch finds no CUDA GPU, so the model runs on the CPU (slowly).</source>
        <translation>torch 找不到 CUDA GPU，因此模型在 CPU 上运行（较慢）。</translation>
    </message>
    <message>
        <source>Running on CPU (GPU {})</source>
        <translation>在 CPU 上运行（GPU {}）</translation>
    </message>
    <message>
        <source>The device setting keeps the model on the CPU.</source>
        <translation>设备设置让模型留在 CPU 上。</translation>
    </message>
    <message>
        <source>GPU: model not loaded, {}</source>
        <translation>GPU：模型未加载，{}</translation>
    </message>
    <message>
        <source>GPU: model not loaded</source>
        <translation>GPU：模型未加载</translation>
    </message>
    <message>
        <source>{name}: {size} on {device} ({precision})</source>
        <translation>{name}：{size}，位于 {device}（{precision}）</translation>
    </message>
    <message>
        <source>kept by this process&apos;s allocator: {}</source>
        <translation>本进程的分配器保留：{}</translation>
    </message>
    <message>
        <source>In use on the card: {used} of {total}, as the driver counts it (this app&apos;s CUDA context, its allocator&apos;s reserve and graph workspaces included, and other programs&apos; use). The model: {model}.</source>
        <translation>显卡已用：{used} / {total}，按驱动程序的统计（包括本应用的 CUDA 上下文、分配器保留的显存和图工作区，也包括其他程序的占用）。模型：{model}。</translation>
    </message>
    <message>
        <source>GPU: {used} / {total} in use (model {model})</source>
        <translation>GPU：已用 {used} / {total}（模型 {model}）</translation>
    </message>
    <message>
        <source>GPU: model {model}</source>
        <translation>GPU：模型 {model}</translation>
    </message>
    <message>
        <source>Starting...</source>
        <translation>正在启动...</translation>
    </message>
    <message>
        <source>Choose the mo&amp;del...</source>
        <translation>选择模型(&amp;D)...</translation>
    </message>
    <message>
        <source>Choose the CosyVoice3 model folder, or download it</source>
        <translation>选择 CosyVoice3 模型文件夹，或下载模型</translation>
    </message>
</context>
<context>
    <name>TextFile</name>
    <message>
        <source>Text files (*.txt *.md *.text);;All files (*)</source>
        <translation>文本文件 (*.txt *.md *.text);;所有文件 (*)</translation>
    </message>
    <message>
        <source>{name} is {size:.0f} MB, more than the {most:.0f} MB a text file can be here: open a smaller part.</source>
        <translation>{name} 有 {size:.0f} MB，超过了此处文本文件 {most:.0f} MB 的上限：请打开较小的一部分。</translation>
    </message>
    <message>
        <source>{name} could not be read: {reason}.</source>
        <translation>无法读取 {name}：{reason}。</translation>
    </message>
    <message>
        <source>{} is not a text file (it holds binary data): choose a .txt file.</source>
        <translation>{} 不是文本文件（其中含有二进制数据）：请选择 .txt 文件。</translation>
    </message>
    <message>
        <source>{} is not UTF-8; it was read as Windows-1252, so some letters may be wrong. Save it as UTF-8 to be sure.</source>
        <translation>{} 不是 UTF-8 编码；已按 Windows-1252 读取，部分字符可能有误。请将其另存为 UTF-8 以确保正确。</translation>
    </message>
</context>
<context>
    <name>Tray</name>
    <message>
        <source>Speak clipboard</source>
        <translation>朗读剪贴板</translation>
    </message>
    <message>
        <source>Pause</source>
        <translation>暂停</translation>
    </message>
    <message>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <source>Show window</source>
        <translation>显示窗口</translation>
    </message>
    <message>
        <source>Settings...</source>
        <translation>设置...</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
    <message>
        <source>Starting...</source>
        <translation>正在启动...</translation>
    </message>
    <message>
        <source>Resume</source>
        <translation>继续</translation>
    </message>
</context>
<context>
    <name>TrayListenMenu</name>
    <message>
        <source>Previous sentence</source>
        <translation>上一句</translation>
    </message>
    <message>
        <source>Next sentence</source>
        <translation>下一句</translation>
    </message>
    <message>
        <source>Voice</source>
        <translation>声音</translation>
    </message>
    <message>
        <source>Speed</source>
        <translation>语速</translation>
    </message>
    <message>
        <source>Volume</source>
        <translation>音量</translation>
    </message>
    <message>
        <source>No voices yet</source>
        <translation>还没有声音</translation>
    </message>
</context>
<context>
    <name>VoicesDialog</name>
    <message>
        <source>No voices yet. CosyVoice3 speaks like a short example: add a clip of someone speaking (with what it says), or record your own voice.</source>
        <translation>还没有声音。CosyVoice3 会模仿一段简短的示例说话：请添加一段某人说话的音频（附上其中所说的内容），或录制你自己的声音。</translation>
    </message>
    <message>
        <source>Hello! This is how I sound when I read your text aloud.</source>
        <translation>你好！这就是我为你朗读文字时的声音。</translation>
    </message>
    <message>
        <source>Voices</source>
        <translation>声音</translation>
    </message>
    <message>
        <source>The voices in the library; the default voice is in bold</source>
        <translation>声音库中的声音；默认声音以粗体显示</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>&amp;Add from file...</source>
        <translation>从文件添加(&amp;A)...</translation>
    </message>
    <message>
        <source>&amp;Record...</source>
        <translation>录制(&amp;R)...</translation>
    </message>
    <message>
        <source>Re&amp;name...</source>
        <translation>重命名(&amp;N)...</translation>
    </message>
    <message>
        <source>&amp;Delete</source>
        <translation>删除(&amp;D)</translation>
    </message>
    <message>
        <source>Use as de&amp;fault</source>
        <translation>设为默认(&amp;F)</translation>
    </message>
    <message>
        <source>&amp;Try it</source>
        <translation>试听(&amp;T)</translation>
    </message>
    <message>
        <source>Hear the selected voice read a short sentence</source>
        <translation>听所选声音朗读一句短句</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Stop adding the voice</source>
        <translation>停止添加声音</translation>
    </message>
    <message>
        <source>Add a voice from an audio clip and what it says</source>
        <translation>用一段音频及其所说的内容添加声音</translation>
    </message>
    <message>
        <source>Record a voice with the microphone</source>
        <translation>用麦克风录制声音</translation>
    </message>
    <message>
        <source>Give the selected voice another name</source>
        <translation>给所选声音换个名称</translation>
    </message>
    <message>
        <source>Delete the selected voice and its clip</source>
        <translation>删除所选声音及其音频</translation>
    </message>
    <message>
        <source>Read with the selected voice when no other is picked</source>
        <translation>未选择其他声音时，使用所选声音朗读</translation>
    </message>
    <message>
        <source>Close the voices window</source>
        <translation>关闭声音窗口</translation>
    </message>
    <message>
        <source>{name}  ({seconds:.1f} s)  - default</source>
        <translation>{name}  （{seconds:.1f} 秒）  - 默认</translation>
    </message>
    <message>
        <source>{name}  ({seconds:.1f} s)</source>
        <translation>{name}  （{seconds:.1f} 秒）</translation>
    </message>
    <message>
        <source>&lt;b&gt;{name}&lt;/b&gt; says: “{transcript}”</source>
        <translation>&lt;b&gt;{name}&lt;/b&gt; 说：“{transcript}”</translation>
    </message>
    <message>
        <source>&apos;{}&apos;</source>
        <translation>“{}”</translation>
    </message>
    <message>
        <source>, </source>
        <translation>、</translation>
    </message>
    <message>
        <source>Adding {}: checking the clip and preparing it with the model (the model loads first if needed)...</source>
        <translation>正在添加{}：检查音频并用模型进行准备（如有需要会先加载模型）...</translation>
    </message>
    <message>
        <source>The voice &apos;{name}&apos; was not added. {reason}</source>
        <translation>未能添加声音“{name}”。{reason}</translation>
    </message>
    <message>
        <source>Rename voice</source>
        <translation>重命名声音</translation>
    </message>
    <message>
        <source>New name for &apos;{}&apos;:</source>
        <translation>“{}”的新名称：</translation>
    </message>
    <message>
        <source>Delete the voice &apos;{}&apos; and its clip? This cannot be undone.</source>
        <translation>删除声音“{}”及其音频吗？此操作无法撤销。</translation>
    </message>
    <message>
        <source>Delete voice</source>
        <translation>删除声音</translation>
    </message>
    <message>
        <source>The default voice could not be saved ({}).</source>
        <translation>无法保存默认声音（{}）。</translation>
    </message>
</context>
<context>
    <name>config</name>
    <message>
        <source>How the LLM is quantised: auto (4-bit on a CUDA GPU, none on the CPU, where quantised layers are slow), 4-bit NF4, 8-bit LLM.int8 or none (full precision). QUANTIZATION_ENABLED=true/false and QUANTIZATION_BITS=4/8 override it.</source>
        <translation>LLM 的量化方式：自动（在 CUDA GPU 上用 4 位；在 CPU 上不量化，因为量化层在 CPU 上很慢）、4 位 NF4、8 位 LLM.int8 或不量化（全精度）。QUANTIZATION_ENABLED=true/false 和 QUANTIZATION_BITS=4/8 会覆盖此设置。</translation>
    </message>
    <message>
        <source>Automatic (4-bit on a GPU, none on the CPU)</source>
        <translation>自动（GPU 上 4 位，CPU 上不量化）</translation>
    </message>
    <message>
        <source>4-bit NF4 (least GPU memory)</source>
        <translation>4 位 NF4（显存占用最少）</translation>
    </message>
    <message>
        <source>8-bit LLM.int8</source>
        <translation>8 位 LLM.int8</translation>
    </message>
    <message>
        <source>None (full precision)</source>
        <translation>不量化（全精度）</translation>
    </message>
    <message>
        <source>Precision of the flow and the vocoder: fp32, bf16 (where the card supports it) or fp16.</source>
        <translation>flow 和声码器的精度：fp32、bf16（需显卡支持）或 fp16。</translation>
    </message>
    <message>
        <source>fp32 (safest)</source>
        <translation>fp32（最稳妥）</translation>
    </message>
    <message>
        <source>bf16 (half the memory; needs a recent GPU)</source>
        <translation>bf16（内存减半；需要较新的 GPU）</translation>
    </message>
    <message>
        <source>fp16 (guarded against silent audio)</source>
        <translation>fp16（有防止无声输出的保护）</translation>
    </message>
    <message>
        <source>Outlier threshold of 8-bit mode (LLM.int8): speed against a little accuracy. 0, the default, computes everything in 8 bits, so the decode step replays from a CUDA graph and speech comes several times faster than real time. A threshold such as 6.0 (the value LLM.int8 was published with) computes large activations in 16 bits, which can help the accuracy of big models but makes every step wait for the CPU: even on a fast card speech then comes slower than real time.</source>
        <translation>8 位模式（LLM.int8）的离群值阈值：在速度与少许精度之间取舍。默认值 0 表示全部以 8 位计算，解码步骤可从 CUDA 图重放，语音生成比实时快数倍。阈值如 6.0（LLM.int8 发表时所用的值）会以 16 位计算较大的激活值，可能有助于大模型的精度，但每一步都要等待 CPU：即使在高速显卡上，语音生成也会慢于实时。</translation>
    </message>
    <message>
        <source>Where the model runs: auto (the GPU when there is one), cuda or cpu.</source>
        <translation>模型运行的位置：自动（有 GPU 时用 GPU）、cuda 或 cpu。</translation>
    </message>
    <message>
        <source>Automatic (GPU when present)</source>
        <translation>自动（有 GPU 时使用 GPU）</translation>
    </message>
    <message>
        <source>CUDA GPU</source>
        <translation>CUDA GPU</translation>
    </message>
    <message>
        <source>CPU</source>
        <translation>CPU</translation>
    </message>
    <message>
        <source>The CosyVoice3 model folder (the one holding cosyvoice3.yaml); empty until chosen.</source>
        <translation>CosyVoice3 模型文件夹（包含 cosyvoice3.yaml 的那个）；选择之前为空。</translation>
    </message>
    <message>
        <source>Global shortcut that reads the clipboard aloud.</source>
        <translation>朗读剪贴板内容的全局快捷键。</translation>
    </message>
    <message>
        <source>Sound output device; empty means the system default.</source>
        <translation>声音输出设备；为空表示使用系统默认设备。</translation>
    </message>
    <message>
        <source>Voice used when none is picked; empty means the first.</source>
        <translation>未选择声音时使用的声音；为空表示使用第一个。</translation>
    </message>
    <message>
        <source>Speaking speed.</source>
        <translation>朗读语速。</translation>
    </message>
    <message>
        <source>Loudness of the speech, in percent of what the model renders.</source>
        <translation>语音的音量，以模型生成音量的百分比表示。</translation>
    </message>
    <message>
        <source>Unload the model after this many idle minutes to free GPU memory; 0 keeps it loaded.</source>
        <translation>空闲这么多分钟后卸载模型以释放显存；0 表示始终保持加载。</translation>
    </message>
    <message>
        <source>Start playing while the rest of the text is synthesised.</source>
        <translation>在合成其余文字的同时开始播放。</translation>
    </message>
    <message>
        <source>How numbers, dates, amounts and units become words: wetext&apos;s grammars as upstream uses them (&apos;$5&apos; is read &apos;five dollars&apos;), or basic (only bare digits are spelled out).</source>
        <translation>数字、日期、金额和单位如何转换为文字：使用与上游相同的 wetext 语法（“$5”读作“五美元”），或基本规则（只读出单独的数字）。</translation>
    </message>
    <message>
        <source>Full: numbers, dates, amounts and units (wetext)</source>
        <translation>完整：数字、日期、金额和单位（wetext）</translation>
    </message>
    <message>
        <source>Basic: only digits are spelled out</source>
        <translation>基本：只读出数字</translation>
    </message>
    <message>
        <source>Serve the local HTTP API.</source>
        <translation>提供本地 HTTP API。</translation>
    </message>
    <message>
        <source>Port of the local HTTP API.</source>
        <translation>本地 HTTP API 的端口。</translation>
    </message>
    <message>
        <source>Key the local HTTP API asks for; empty means none.</source>
        <translation>本地 HTTP API 要求的密钥；为空表示不需要。</translation>
    </message>
    <message>
        <source>The first-run dialog has been completed.</source>
        <translation>首次运行对话框已完成。</translation>
    </message>
</context>
</TS>
